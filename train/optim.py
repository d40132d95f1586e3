"""Optimizers: AdamW with weight decay on matrices only (nanoGPT's grouping), or Muon for
the blocks' matrices with AdamW for everything else (modded-nanogpt's recipe).

Muon is ours rather than torch.optim.Muon: torch's iterates in bf16 always (several times
slower than fp32 on CPUs without bf16 units) and takes 2-D parameters only (so AdamW would
be a second optimizer for the trainer and checkpoints to carry); ours also gathers sharded
matrices with the trainer's own layouts (orthogonalise)."""

import torch

from .config import TrainConfig

# Newton-Schulz quintic coefficients (Keller Jordan's Muon): five steps take every singular
# value of a matrix of spectral norm <= 1 into roughly [0.7, 1.2].
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, device_type: str):
    """cfg.optimizer "adamw": matrices (Linear weights, embeddings) decay; biases and norm
    gains do not, since shrinking them toward zero only fights the normalisation. The fused
    kernel on CPU and CUDA: on CPU one pass over the 124M model's parameters and states
    takes ~0.1 s against ~0.9 s for the per-tensor loop.
    "muon": the Linear weights inside the blocks take Muon at cfg.muon_lr; the token
    embedding, the head, norms and biases take AdamW at cfg.lr (Muon is for hidden layers:
    an embedding row or a head row is not a direction of a linear map of the stream)."""
    params = [p for p in model.parameters() if p.requires_grad]  # tied weights appear once
    if cfg.optimizer == "muon":
        hidden = {id(p) for name, p in model.named_parameters()
                  if p.requires_grad and p.dim() == 2 and ".h." in f".{name}"}
        return Muon([
            {"params": [p for p in params if id(p) in hidden], "muon": True,
             "lr_scale": cfg.muon_lr / cfg.lr, "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if id(p) not in hidden and p.dim() >= 2],
             "muon": False, "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if id(p) not in hidden and p.dim() < 2],
             "muon": False, "weight_decay": 0.0},
        ], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, momentum=cfg.muon_momentum)
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                             fused=device_type in ("cpu", "cuda") or None)


def orthogonalise(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """The nearest semi-orthogonal matrix to g, approximately (U S' V^T with S' ~ 1), by
    Newton-Schulz iterations; in bf16 on GPUs, in fp32 on CPUs (most lack bf16 units).
    A DTensor (an FSDP2 or tensor-parallel shard) is gathered first, so the iteration sees
    the whole matrix; every rank computes the same result and keeps its own shard of it
    (parallel.full_of/local_of: FSDP over a fused [q; k; v] is laid out as DTensor's own
    redistribution does not)."""
    if hasattr(g, "full_tensor"):
        from torch.distributed.tensor import DTensor

        from .parallel import full_of, local_of

        local = local_of(orthogonalise(full_of(g), steps), g)
        return DTensor.from_local(local, g.device_mesh, g.placements, run_check=False,
                                  shape=g.shape, stride=g.stride())
    a, b, c = NS_COEFFICIENTS
    x = g.bfloat16() if g.is_cuda else g.float()
    tall = x.size(0) > x.size(1)
    if tall:  # iterate on the smaller Gram matrix
        x = x.T
    x = x / (x.norm() + 1e-7)  # spectral norm <= Frobenius norm <= 1
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Muon (momentum orthogonalised by Newton-Schulz) for the groups marked "muon", AdamW
    for the others, in one optimizer so the trainer, the schedule and checkpoints see one.

    Muon's update of an (out, in) matrix is orthogonalise(nesterov momentum) scaled by
    sqrt(max(1, out/in)) (Keller Jordan's), at lr * group["lr_scale"]: the trainer sets
    every group's lr to the schedule's, which keeps the two rates' ratio. Weight decay is
    decoupled in both (p *= 1 - lr * wd). Under DDP every rank orthogonalises the same
    all-reduced gradient; under FSDP2 see orthogonalise.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.95), eps: float = 1e-8,
                 momentum: float = 0.95):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, momentum=momentum,
                                      lr_scale=1.0, weight_decay=0.0, muon=False))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr = group["lr"] * group["lr_scale"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - lr * group["weight_decay"])
                if group["muon"]:
                    self._muon(p, lr, group["momentum"])
                else:
                    self._adamw(p, lr, *group["betas"], group["eps"])

    def _muon(self, p, lr: float, momentum: float):
        state = self.state[p]
        if not state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf = state["momentum_buffer"]
        buf.lerp_(p.grad, 1 - momentum)
        update = orthogonalise(p.grad.lerp(buf, momentum))  # Nesterov
        p.add_(update, alpha=-lr * max(1.0, p.size(0) / p.size(1)) ** 0.5)

    def _adamw(self, p, lr: float, beta1: float, beta2: float, eps: float):
        state = self.state[p]
        if not state:
            state.update(step=torch.zeros((), dtype=torch.float32),
                         exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        state["step"] += 1
        t = state["step"].item()
        state["exp_avg"].lerp_(p.grad, 1 - beta1)
        state["exp_avg_sq"].lerp_(p.grad.square(), 1 - beta2)
        denom = (state["exp_avg_sq"] / (1 - beta2 ** t)).sqrt_().add_(eps)
        p.addcdiv_(state["exp_avg"], denom, value=-lr / (1 - beta1 ** t))
