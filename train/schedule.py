"""Learning-rate schedules: linear warmup, then cosine decay or warmup-stable-decay (WSD)."""

import math

from .config import TrainConfig


def lr_at(step: int, cfg: TrainConfig, elapsed: float | None = None) -> float:
    """Learning rate of optimizer step `step` (0-based).

    cosine: warmup, then half a cosine from lr down to lr*min_lr_ratio at the end.
    wsd: warmup, a constant lr, then a linear decay to lr*min_lr_ratio over the last
    decay_fraction of the run (so a run can be extended from any pre-decay checkpoint).
    The end is the last of cfg.max_steps steps or, with a time budget (cfg.max_time and
    `elapsed`, the training seconds spent before this step), the end of the budget: the
    run's progress is then the fraction of the budget spent, since the number of steps
    that fit is not known in advance. Warmup is always in steps.
    """
    peak, low = cfg.lr, cfg.lr * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    if cfg.max_time and elapsed is not None:
        progress, decay_from = min(elapsed / cfg.max_time, 1.0), 1.0 - cfg.decay_fraction
    else:  # progress in steps after warmup; wsd decays over the last decay_fraction*max_steps
        last = max(cfg.max_steps - 1, cfg.warmup_steps)
        span = max(last - cfg.warmup_steps, 1)
        progress = (step - cfg.warmup_steps) / span
        decay_start = max(cfg.warmup_steps, last - int(cfg.decay_fraction * cfg.max_steps))
        decay_from = (decay_start - cfg.warmup_steps) / span
    if cfg.schedule == "cosine":
        return low + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (peak - low)
    if progress < decay_from:
        return peak
    return peak + min((progress - decay_from) / max(1.0 - decay_from, 1e-9), 1.0) * (low - peak)
