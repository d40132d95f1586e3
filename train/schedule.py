"""Learning-rate schedules: linear warmup, then cosine decay or warmup-stable-decay (WSD)."""

import math

from .config import TrainConfig


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step `step` (0-based) of a cfg.max_steps run.

    cosine: warmup, then half a cosine from lr down to lr*min_lr_ratio at the last step.
    wsd: warmup, a constant lr, then a linear decay to lr*min_lr_ratio over the last
    decay_fraction of the run (so a run can be extended from any pre-decay checkpoint).
    """
    peak, low = cfg.lr, cfg.lr * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    last = max(cfg.max_steps - 1, cfg.warmup_steps)
    if cfg.schedule == "cosine":
        progress = (step - cfg.warmup_steps) / max(last - cfg.warmup_steps, 1)
        return low + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (peak - low)
    decay_start = max(cfg.warmup_steps, last - int(cfg.decay_fraction * cfg.max_steps))
    if step < decay_start:
        return peak
    progress = (step - decay_start) / max(last - decay_start, 1)
    return peak + min(progress, 1.0) * (low - peak)
