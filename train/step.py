"""One optimizer step, and reading its loss back without stalling the device every step."""

import contextlib
import math

import torch

from . import TrainingError
from . import distributed as dist_utils
from .parallel import clip_grad_norm_

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_for(dtype: str, device: torch.device):
    """The mixed-precision context of a run computing in `dtype` (none for fp32)."""
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=TORCH_DTYPES[dtype])


class TrainStep:
    """Optimizer steps over one process's micro-batches: gradient accumulation (gradients
    synced on the last micro-batch only), clipping and the fp16 gradient scaler.

    A step returns its loss as a device tensor and never waits for the device (an `.item()`
    or an `if` on a tensor every step would stall a GPU's queue). The loss is read back by
    `read`, which the trainer calls on the steps that log, evaluate or checkpoint, before
    anything is written. A NaN or inf loss or gradient norm is noted on the device, as the
    first step that had one, and `read` raises on it: so no checkpoint holds a diverged model,
    and the error names the step the run went wrong at even when it was read later.
    bench/train_throughput.py times this class.
    """

    def __init__(self, model, optimizer, scaler, autocast, grad_clip: float, d: dist_utils.Dist):
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.autocast, self.grad_clip, self.d = autocast, grad_clip, d
        # the first step whose [loss, gradient norm] was not finite; inf while none was
        self.first_bad = torch.full((2,), math.inf, dtype=torch.float64, device=d.device)

    def __call__(self, batches: list[torch.Tensor], step: int, lr: float) -> torch.Tensor:
        """Optimizer step number `step` (from 1) at learning rate lr on this process's
        micro-batches of windows (see Sampler.next_step); returns this process's loss, the
        mean over its micro-batches, as a 0-dim device tensor."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=self.d.device)
        for m, w in enumerate(batches):
            w = w.to(self.d.device, non_blocking=True)  # one copy; inputs and targets are views
            with dist_utils.gradient_sync(self.model, m == len(batches) - 1), self.autocast:
                loss = self.model(w[:, :-1], w[:, 1:]) / len(batches)
            self.scaler.scale(loss).backward()
            loss_sum += loss.detach()
        self._note(0, loss_sum, step)
        self.scaler.unscale_(self.optimizer)
        if self.grad_clip > 0:
            norm = clip_grad_norm_(self.model.parameters(), self.grad_clip)
            if not self.scaler.is_enabled():  # fp16: the scaler skips steps with inf gradients
                self._note(1, norm, step)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_sum

    def _note(self, which: int, value: torch.Tensor, step: int):
        """Record `step` as the first bad one for `which` if value is NaN or inf (on the device)."""
        first = self.first_bad[which]
        self.first_bad[which] = torch.where(torch.isfinite(value), first, first.clamp(max=step))

    def read(self, loss: torch.Tensor, step: int) -> float:
        """Step `step`'s loss (returned by the call) averaged over processes, on the host: a
        sync, and a collective under torchrun (every rank calls it at the same step). Raises
        a TrainingError if any step so far had a NaN or inf loss or gradient norm."""
        mean = dist_utils.all_reduce_mean(loss.detach().clone(), self.d)
        first = dist_utils.all_reduce_min(self.first_bad.clone(), self.d)
        value, bad_loss, bad_norm = torch.cat([mean.double().view(1), first]).tolist()
        if bad_loss < math.inf:
            raise TrainingError(
                f"training loss is not finite since step {bad_loss:.0f} ({value} at step {step}); "
                "stopping (the last good checkpoint is in RUN/checkpoints; try a lower lr)")
        if bad_norm < math.inf:
            raise TrainingError(f"gradient norm is not finite since step {bad_norm:.0f}; stopping")
        return value
