"""Process-group setup and model wrapping for torchrun; the model code knows nothing of it
(torchtitan's split: parallelism is applied from outside, here).

One process: no process group, the bare model. Under torchrun (WORLD_SIZE > 1): NCCL for
CUDA tensors and gloo for CPU tensors (gloo only on CPU), and the model wrapped in DDP
(replicated weights, all-reduced gradients) here, or sharded by FSDP2 and tensor
parallelism in train/parallel.py. The per-step agreement on
the clock and on signals (all_reduce_max) travels as a CPU tensor over gloo, so it never
waits for the GPU.
"""

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                     set_optimizer_state_dict)
from torch.nn.parallel import DistributedDataParallel


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    tp: int = 1  # tensor-parallel degree: ranks dp*tp .. dp*tp+tp-1 hold one model replica

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def dp_rank(self) -> int:
        """This rank's data-parallel index: the ranks of one tensor-parallel group see the
        same batches."""
        return self.rank // self.tp

    @property
    def dp_size(self) -> int:
        return self.world_size // self.tp

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_world_size() -> int:
    """The number of processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup() -> Dist:
    """Read torchrun's environment and join the process group (if there is more than one)."""
    world = env_world_size()
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    return Dist(rank, world, local, device)


def teardown(d: Dist):
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(model: torch.nn.Module, d: Dist) -> torch.nn.Module:
    """The model as the training loop calls it: bare (one process) or DDP-wrapped. FSDP
    and tensor parallelism are applied by train/parallel.py."""
    if not d.enabled:
        return model
    return DistributedDataParallel(model, device_ids=[d.local_rank] if d.device.type == "cuda" else None)


@contextlib.contextmanager
def gradient_sync(model: torch.nn.Module, enabled: bool):
    """Skip the gradient all-reduce on accumulation micro-steps (all but the last)."""
    if enabled:
        yield
    elif isinstance(model, DistributedDataParallel):
        with model.no_sync():
            yield
    elif hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        yield


def all_reduce_mean(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= d.world_size
    return t


def all_reduce_min(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return t


def all_reduce_max(values: list[float], d: Dist) -> list[float]:
    """The element-wise maximum of `values` over ranks, so every rank takes the same
    decision (stop now, the time-budget position that sets the learning rate). A CPU
    tensor: host to host, never a wait for the device."""
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def broadcast_object(obj, d: Dist):
    """Rank 0's `obj` on every rank (a picklable value)."""
    if not d.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def load_full_state(model, optimizer, model_state: dict, optim_state: dict | None):
    """Load full (unsharded) model and optimizer state dicts, as a .pt checkpoint holds
    them, into any wrapping (every rank passes the same ones)."""
    opts = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, model_state, options=opts)
    if optim_state is not None:
        set_optimizer_state_dict(model, optimizer, optim_state, options=opts)
