"""Training windows from memory-mapped token shards, and the fixed validation set.

A window is block_size+1 consecutive tokens of one shard (inputs and the targets shifted
by one); windows start every block_size tokens, so every token is a target exactly once
per epoch. Windows are visited in a seeded permutation per epoch, without replacement.
The sampler's state is one integer, the number of windows consumed, so it checkpoints
exactly; a step's global batch is the same windows whatever the number of processes,
and each process takes its own slice.
"""

from typing import NamedTuple

import numpy as np
import torch

from tokenizer.shards import open_split


class Windows:
    """The windows of a list of token arrays (shards), addressed by a global index."""

    def __init__(self, arrays: list[np.ndarray], block_size: int):
        self.arrays = arrays
        self.block_size = block_size
        counts = [max(len(a) - 1, 0) // block_size for a in arrays]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        if self.starts[-1] == 0:
            raise ValueError(f"no window of {block_size + 1} tokens in "
                             f"{sum(len(a) for a in arrays)} tokens: the split is too small "
                             "for this block_size")

    def __len__(self) -> int:
        return int(self.starts[-1])

    def gather(self, indices, pin: bool = False) -> torch.Tensor:
        """(len(indices), block_size+1) int64 tokens of the windows `indices`, gathered by one
        fancy index per shard the windows lie in; in pinned memory with `pin`, so a
        non_blocking copy to a GPU really overlaps."""
        indices = np.asarray(indices, dtype=np.int64)
        shards = np.searchsorted(self.starts, indices, side="right") - 1
        first = (indices - self.starts[shards]) * self.block_size  # each window's first token
        out = torch.empty((len(indices), self.block_size + 1), dtype=torch.int64, pin_memory=pin)
        rows, span = out.numpy(), np.arange(self.block_size + 1)
        for shard in np.unique(shards):
            here = shards == shard
            rows[here] = self.arrays[shard][first[here, None] + span]
        return out


class Sampler:
    """Batches of windows in a seeded per-epoch permutation; `position` is the state."""

    def __init__(self, windows: Windows, seed: int, position: int = 0):
        self.windows = windows
        self.seed = seed
        self.position = position
        self._perm_epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.windows))
            self._perm_epoch = epoch
        return self._perm

    def indices(self, start: int, count: int) -> list[int]:
        """Window indices at sampler positions start .. start+count-1 (crossing epochs)."""
        positions = np.arange(start, start + count)
        epochs, n = positions // len(self.windows), len(self.windows)
        out = np.empty(count, dtype=np.int64)
        for epoch in np.unique(epochs):
            here = epochs == epoch
            out[here] = self._permutation(int(epoch))[positions[here] % n]
        return out.tolist()

    def next_step(self, global_windows: int, micro_batch: int, rank: int, world: int,
                  pin: bool = False) -> list[torch.Tensor]:
        """This process's micro-batches of the next step's global batch, each a
        (micro_batch, block_size+1) tensor of windows: inputs w[:, :-1], targets w[:, 1:].

        The global batch is the next global_windows positions; micro-step m of rank r takes
        positions [(m*world + r)*micro_batch, +micro_batch) of it, so the union over ranks
        and micro-steps is the same batch for any world size. pin: see Windows.gather.
        """
        steps = global_windows // (micro_batch * world)
        batches = []
        for m in range(steps):
            first = self.position + (m * world + rank) * micro_batch
            batches.append(self.windows.gather(self.indices(first, micro_batch), pin))
        self.position += global_windows
        return batches


def eval_windows(windows: Windows, max_tokens: int) -> list[int]:
    """Validation windows spread evenly over the split (every document region is sampled,
    not only the first shard's opening), up to max_tokens targets; 0 or more than the split
    holds takes every window. Fixed across evaluations and runs, so validation losses compare."""
    n = len(windows)
    count = n if max_tokens <= 0 else max(1, min(n, max_tokens // windows.block_size))
    return np.unique(np.linspace(0, n - 1, count).round().astype(np.int64)).tolist()


def target_bytes(windows: Windows, indices: list[int], nbytes: np.ndarray) -> int:
    """UTF-8 bytes of the targets of the windows `indices`, exact even where a window cuts a
    character in two (nbytes: Tokenizer.piece_bytes(), bytes each token id stands for)."""
    chunk = 1024  # windows gathered at a time, to bound memory on a whole val split
    return sum(int(nbytes[windows.gather(indices[i:i + chunk])[:, 1:].numpy()].sum())
               for i in range(0, len(indices), chunk))


class ValSet(NamedTuple):
    windows: Windows
    indices: list[int]  # the windows evaluated, fixed for the run
    nbytes: int  # UTF-8 bytes their targets stand for (bits per byte)


def val_set(data_dir, manifest, block_size, eval_tokens, world, tokenizer) -> ValSet | None:
    """The fixed validation windows and their target bytes, or None without a val split.
    The count is a multiple of the number of processes so every rank runs the same number
    of forwards (FSDP needs that)."""
    shards = open_split(data_dir, "val", manifest)
    if not shards or sum(s.num_tokens for s in shards) <= block_size:
        return None
    windows = Windows([s.tokens for s in shards], block_size)
    indices = eval_windows(windows, eval_tokens)
    indices = indices[:len(indices) // world * world]
    return ValSet(windows, indices, target_bytes(windows, indices, tokenizer.piece_bytes())) if indices else None
