"""LoRA (Hu et al., 2021): low-rank adapters on chosen Linear layers of a frozen GPT.

A LoRALinear computes x W^T + b + (alpha / rank) * x A B: A (in, rank) is initialised as
the book's appendix E does (kaiming_uniform_ with a = sqrt(5)) and B (rank, out) at zero,
so an adapted model computes exactly the base model until B trains. The scale alpha / rank
is peft's and the paper's (the book's layer multiplies by alpha alone: its alpha=16 at rank
16 is alpha=256 here). The base weight keeps its name and Parameter, so a base checkpoint
loads into an adapted model and `merge_lora` folds the adapters back into plain Linears
(W + (alpha / rank) (A B)^T) for export and fast inference.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Every Linear inside the transformer blocks (c_proj matches attn.c_proj and mlp.c_proj).
DEFAULT_TARGETS = ("c_attn", "c_proj", "c_fc")


class LoRALinear(nn.Linear):
    """An nn.Linear plus a trainable low-rank update; weight and bias are the base layer's."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        nn.Module.__init__(self)  # no fresh weight: the base layer's Parameters are reused
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        like = dict(device=base.weight.device, dtype=base.weight.dtype)
        self.lora_A = nn.Parameter(torch.empty(base.in_features, rank, **like))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(rank, base.out_features, **like))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias) + (x @ self.lora_A @ self.lora_B) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain Linear computing the same function."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.weight + self.scaling * (self.lora_A @ self.lora_B).t())
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha}"


def _targets(model: nn.Module, targets) -> list[str]:
    """Names of the Linear layers inside model.transformer.h whose name ends with a target."""
    found = [name for name, m in model.named_modules()
             if isinstance(m, nn.Linear) and name.startswith("transformer.h.")
             and any(name == t or name.endswith("." + t) for t in targets)]
    if not found:
        raise ValueError(f"--lora-targets {','.join(targets)} matches no Linear layer of the "
                         f"blocks; their names end with {', '.join(DEFAULT_TARGETS)}")
    return found


def _replace(model: nn.Module, name: str, new: nn.Module):
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, new)


def apply_lora(model: nn.Module, rank: int, alpha: float, targets=DEFAULT_TARGETS) -> int:
    """Freeze every parameter of `model` and put an adapter on each target Linear (the
    adapters alone train; unfreeze a new head yourself). Returns the number of adapters."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = _targets(model, targets)
    for name in names:
        _replace(model, name, LoRALinear(model.get_submodule(name), rank, alpha))
    return len(names)


def merge_lora(model: nn.Module) -> int:
    """Fold every adapter into its Linear; returns how many were merged."""
    names = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name in names:
        _replace(model, name, model.get_submodule(name).merged())
    return len(names)
