"""Atomic checkpoints in RUN/checkpoints/, the last K kept, in two forms:

* step_NNNNNNNN/: a torch.distributed.checkpoint (DCP) folder, what `cc2gpt train` writes
  at any number of processes: every rank writes its own shards (no rank gathers the whole
  model), in the background while training goes on, and it loads onto any other number of
  processes or wrapping (DCP reshards by the tensors' global shapes); meta.json beside the
  shards holds the step, the config and the tokenizer's identity.
* step_NNNNNNNN.pt: one torch.save file of the full state (import-hf and fine-tuning runs,
  whose models are small).

Either is written under a temporary name (.step_NNNNNNNN.tmp), made durable and renamed
into place, so a kill at any moment leaves either the previous set or the new one, never
a partial checkpoint under a checkpoint's name; the older ones are dropped only after the
rename. Resuming takes the newest checkpoint that is complete; an unreadable one (a
truncated copy, a disk error) is reported and skipped, never fatal while an older one is
good.
"""

import json
import os
import re
import shutil
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

PATTERN = re.compile(r"^step_(\d{8})(\.pt)?$")
META = "meta.json"


def checkpoint_dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint, file or DCP folder, oldest first (temporary
    names excluded)."""
    d = checkpoint_dir(run_dir)
    found = [(int(m.group(1)), p) for p in d.glob("step_*") if (m := PATTERN.match(p.name))]
    return sorted(found)


def save_checkpoint(run_dir, step: int, state: dict, keep: int) -> Path:
    """Write `state` atomically as the .pt checkpoint of `step`, then drop all but the last `keep`."""
    d = checkpoint_dir(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"step_{step:08d}.pt"
    tmp = d / f".{path.name}.tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    publish(tmp, path, run_dir, keep)
    return path


def publish(tmp: Path, path: Path, run_dir, keep: int):
    """Rename a finished checkpoint into place, durably, then prune to the last `keep`."""
    if path.is_dir():  # the same step written again (a run resumed before it)
        shutil.rmtree(path)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)


def fsync_dir(d: Path):
    """Make a rename in `d` durable (directory entries are flushed separately on POSIX)."""
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(d: Path):
    """Flush every file DCP wrote in folder `d`, and the folder, before it is renamed."""
    for f in d.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    fsync_dir(d)


def read_meta(path: Path) -> dict:
    """A DCP checkpoint's meta.json, after checking that every byte range its .metadata
    names is present (a ValueError naming the first missing or short file)."""
    reader = dcp.FileSystemReader(path)
    for info in reader.read_metadata().storage_data.values():
        f = path / info.relative_path
        if not f.is_file() or f.stat().st_size < info.offset + info.length:
            raise ValueError(f"{f.name} is missing or shorter than its {info.offset + info.length} bytes")
    return json.loads((path / META).read_text())


def read_checkpoint(path, keys: set[str] | None = None) -> dict:
    """A checkpoint as one dict of full tensors on CPU, in this process alone: a .pt file,
    or a DCP folder's meta.json and (`keys`: only these top-level entries, e.g. {"model"})
    its tensors gathered whole."""
    path = Path(path)
    if path.suffix == ".pt":
        return torch.load(path, map_location="cpu", weights_only=True)
    state = read_meta(path)
    tensors: dict = {}
    # as DCP's own dcp_to_torch_save reads a checkpoint whole, without a model to load into
    _load_state_dict(tensors, storage_reader=dcp.FileSystemReader(path),
                     planner=_EmptyStateDictLoadPlanner(keys=keys), no_dist=True)
    return {**state, **tensors}


def load_latest(run_dir, keys: set[str] | None = None) -> tuple[Path, dict] | None:
    """The newest checkpoint that reads, as (path, read_checkpoint(path, keys)); None if there is none."""
    return newest(run_dir, lambda path: read_checkpoint(path, keys))


def latest_header(run_dir) -> tuple[Path, dict] | None:
    """The newest complete checkpoint without reading its tensors from a DCP folder:
    (path, meta.json) for a folder, (path, the whole state) for a .pt file; None if none."""
    return newest(run_dir, lambda path: read_meta(path) if path.is_dir() else read_checkpoint(path))


def newest(run_dir, read) -> tuple[Path, dict] | None:
    """(path, read(path)) of the newest checkpoint that reads and records its own step."""
    for step, path in reversed(list_checkpoints(run_dir)):
        try:
            state = read(path)
            if state.get("step") != step:
                raise ValueError(f"records step {state.get('step')}")
            return path, state
        except Exception as e:  # noqa: BLE001 -- any unreadable checkpoint is skipped
            print(f"warning: skipping unreadable checkpoint {path}: {e}", file=sys.stderr)
    return None


class DCPWriter:
    """Writes DCP checkpoints from every rank: `save` stages the state in memory (a copy,
    so training may go on changing the weights) and writes it in a background thread
    (dcp.async_save, over its own gloo group so its collectives never mix with training's);
    the previous save is finished, and renamed into place by rank 0, before the next
    begins and at `close`. With async_ off, `save` writes before returning."""

    def __init__(self, run_dir, keep: int, rank: int, distributed: bool, async_: bool):
        self.run_dir, self.keep, self.is_main, self.async_ = Path(run_dir), keep, rank == 0, async_
        self.group = dist.new_group(backend="gloo") if distributed else None
        self.pending = None  # (future or None, tmp, path)

    def save(self, step: int, state: dict, meta: dict):
        self.wait()
        d = checkpoint_dir(self.run_dir)
        tmp, path = d / f".step_{step:08d}.tmp", d / f"step_{step:08d}"
        if self.is_main:  # a folder left by a run killed mid-write is replaced
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            (tmp / META).write_text(json.dumps({**meta, "step": step}) + "\n")
        self.barrier()
        if self.async_:
            future = dcp.async_save(state, checkpoint_id=tmp, process_group=self.group,
                                    no_dist=self.group is None)
        else:
            future = dcp.save(state, checkpoint_id=tmp, process_group=self.group,
                              no_dist=self.group is None) and None
        self.pending = (future, tmp, path)
        if not self.async_:
            self.wait()

    def wait(self):
        """Finish the save in flight, if any, and publish it (rank 0, after every rank wrote)."""
        if self.pending is None:
            return
        future, tmp, path = self.pending
        self.pending = None
        if future is not None:
            future.result()
        self.barrier()
        if self.is_main:
            fsync_tree(tmp)
            publish(tmp, path, self.run_dir, self.keep)

    def barrier(self):
        if self.group is not None:
            dist.barrier(group=self.group)

    def close(self):
        self.wait()
        if self.group is not None:
            dist.destroy_process_group(self.group)
            self.group = None
