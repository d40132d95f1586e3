"""TrainState: everything a run resumes from, checkpointing itself (torchtitan's Stateful)."""

import torch

from . import distributed as dist_utils
from .data import Sampler


class TrainState:
    """The optimizer steps taken, the training seconds spent (for the time budget), the data
    position, the RNG, and the model, optimizer and gradient scaler. state_dict() is what a
    checkpoint holds, load_state_dict() puts a run back where it was."""

    def __init__(self, model: torch.nn.Module, optimizer, scaler, sampler: Sampler):
        self.model, self.optimizer, self.scaler, self.sampler = model, optimizer, scaler, sampler
        self.step = 0
        self.elapsed = 0.0

    def state_dict(self) -> dict:
        """Full (unsharded) tensors on CPU, whatever the wrapping; a collective under
        torchrun, so every rank calls it."""
        model, optimizer = dist_utils.full_state(self.model, self.optimizer)
        return {"step": self.step, "elapsed": self.elapsed, "data_position": self.sampler.position,
                "rng": torch.get_rng_state(), "model": model, "optimizer": optimizer,
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict):
        dist_utils.load_full_state(self.model, self.optimizer, state["model"], state["optimizer"])
        if state.get("scaler"):  # empty when the run does not use fp16
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])
        self.sampler.position = state["data_position"]
        self.step, self.elapsed = state["step"], state.get("elapsed", 0.0)
