"""AdamW with weight decay on matrices only (nanoGPT's grouping)."""

import torch

from .config import TrainConfig


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, device_type: str):
    """Matrices (Linear weights, embeddings) decay; biases and norm gains do not, since
    shrinking them toward zero only fights the normalisation. Fused kernel on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]  # tied weights appear once
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                             fused=device_type == "cuda" or None)
