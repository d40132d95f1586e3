"""TrainState: everything a run resumes from, checkpointing itself (torchtitan's Stateful)."""

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from . import distributed as dist_utils
from .data import Sampler
from .parallel import checkpoint_state, restore_state


def merge_groups(optim_state: dict) -> dict:
    """The optimizer state with parameter groups of equal settings merged (tensor
    parallelism splits groups by device mesh, parallel.split_param_groups), so a
    checkpoint's layout is the same whatever the parallelism."""
    merged: dict = {}
    for group in optim_state["param_groups"]:
        key = repr(sorted((k, v) for k, v in group.items() if k != "params"))
        merged.setdefault(key, {**group, "params": []})["params"] += group["params"]
    return {**optim_state, "param_groups": list(merged.values())}


def split_groups(optim_state: dict, like: dict) -> dict:
    """Inverse of merge_groups: optim_state's groups laid out as `like`'s (this run's
    optimizer), each with the settings of the group that held its parameters."""
    owner = {name: group for group in optim_state["param_groups"] for name in group["params"]}
    return {**optim_state, "param_groups": [{**owner[g["params"][0]], "params": g["params"]}
                                            for g in like["param_groups"]]}


class TrainState:
    """The optimizer steps taken, the training seconds spent (for the time budget), the data
    position, the RNG, and the model, optimizer and gradient scaler. state_dict() is what a
    DCP checkpoint holds, load_state_dict() puts a run back where it was."""

    def __init__(self, model: torch.nn.Module, optimizer, scaler, sampler: Sampler):
        self.model, self.optimizer, self.scaler, self.sampler = model, optimizer, scaler, sampler
        self.step = 0
        self.elapsed = 0.0

    def state_dict(self) -> dict:
        """This rank's share: the model and optimizer as the wrapping holds them (DTensor
        shards under FSDP or TP, whole tensors otherwise; tensor-parallel strided shards as
        row shards, parallel.checkpoint_state), keyed by the bare model's parameter names
        whatever the wrapping, so any number of processes loads them."""
        model, optimizer = get_state_dict(self.model, self.optimizer)
        model, optimizer = checkpoint_state((model, merge_groups(optimizer)))
        return {"model": model, "optimizer": optimizer,
                "train": {"step": self.step, "elapsed": self.elapsed,
                          "data_position": self.sampler.position, "rng": torch.get_rng_state(),
                          "scaler": self.scaler.state_dict()}}

    def load(self, path, header: dict):
        """Resume from checkpoint `path`: a DCP folder (each rank reads the pieces of its
        own shards), or a .pt file whose full state is `header` (import-hf writes these)."""
        if "model" in header:
            self.load_full(header)
            return
        state, (like_model, like_optim) = self.state_dict(), get_state_dict(self.model, self.optimizer)
        dcp.load(state, checkpoint_id=path)
        model, optimizer = restore_state((state["model"], state["optimizer"]),
                                         (like_model, merge_groups(like_optim)))
        set_state_dict(self.model, self.optimizer, model_state_dict=model,
                       optim_state_dict=split_groups(optimizer, like_optim))
        self.load_train(state["train"])

    def load_full(self, state: dict):
        """From a full (unsharded) state, as a .pt checkpoint holds it."""
        optimizer = state["optimizer"] and split_groups(
            merge_groups(state["optimizer"]), get_state_dict(self.model, self.optimizer)[1])
        dist_utils.load_full_state(self.model, self.optimizer, state["model"], optimizer)
        self.load_train(state)

    def load_train(self, state: dict):
        if state.get("scaler"):  # empty when the run does not use fp16
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])
        self.sampler.position = state["data_position"]
        self.step, self.elapsed = state["step"], state.get("elapsed", 0.0)
