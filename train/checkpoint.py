"""Atomic checkpoints in RUN/checkpoints/: step_NNNNNNNN.pt, the last K kept.

A checkpoint is written to a temporary file, fsynced and renamed into place, so a kill
at any moment leaves either the previous set or the new one, never half a file under a
checkpoint's name. Resuming takes the newest checkpoint that loads; an unreadable one
(a truncated copy, a disk error) is reported and skipped, never fatal while an older
one is good.
"""

import os
import re
import sys
from pathlib import Path

import torch

PATTERN = re.compile(r"^step_(\d{8})\.pt$")


def checkpoint_dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint file, oldest first (temporary files excluded)."""
    d = checkpoint_dir(run_dir)
    found = [(int(m.group(1)), p) for p in d.glob("step_*.pt") if (m := PATTERN.match(p.name))]
    return sorted(found)


def save_checkpoint(run_dir, step: int, state: dict, keep: int) -> Path:
    """Write `state` atomically as the checkpoint of `step`, then drop all but the last `keep`."""
    d = checkpoint_dir(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"step_{step:08d}.pt"
    tmp = d / f".{path.name}.tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(d)
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def fsync_dir(d: Path):
    """Make a rename in `d` durable (directory entries are flushed separately on POSIX)."""
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_latest(run_dir) -> tuple[Path, dict] | None:
    """The newest checkpoint that loads, as (path, state); None if there is none."""
    for step, path in reversed(list_checkpoints(run_dir)):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if state.get("step") != step:
                raise ValueError(f"records step {state.get('step')}")
            return path, state
        except Exception as e:  # noqa: BLE001 -- any unreadable checkpoint is skipped
            print(f"warning: skipping unreadable checkpoint {path}: {e}", file=sys.stderr)
    return None
