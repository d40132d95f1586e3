"""Validation loss and bits per byte on the run's fixed validation windows."""

import math

import torch

from . import distributed as dist_utils
from .data import ValSet


@torch.no_grad()
def evaluate(model, val: ValSet, d: dist_utils.Dist, micro_batch: int, autocast) -> dict:
    """{"val_loss": mean cross-entropy in nats/token, "val_bpb": the same in bits per UTF-8
    byte of the targets} over the validation windows, split across ranks (a collective:
    every rank calls it). model: the bare model, not its DDP wrapper."""
    was_training = model.training
    model.eval()
    per_rank = len(val.indices) // d.dp_size  # the ranks of a tensor-parallel group share theirs
    mine = val.indices[d.dp_rank * per_rank:(d.dp_rank + 1) * per_rank]
    total = torch.zeros((), device=d.device, dtype=torch.float64)
    for i in range(0, len(mine), micro_batch):
        w = val.windows.gather(mine[i:i + micro_batch]).to(d.device)
        with autocast:
            total += model(w[:, :-1], w[:, 1:]).double() * w.shape[0]
    model.train(was_training)
    loss = dist_utils.all_reduce_mean(total, d).item() / per_rank
    tokens = len(val.indices) * val.windows.block_size
    return {"val_loss": loss, "val_bpb": loss / math.log(2) * tokens / val.nbytes}
