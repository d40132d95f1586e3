"""Training windows from memory-mapped token shards.

A window is block_size+1 consecutive tokens of one shard (inputs and the targets shifted
by one); windows start every block_size tokens, so every token is a target exactly once
per epoch. Windows are visited in a seeded permutation per epoch, without replacement.
The sampler's state is one integer, the number of windows consumed, so it checkpoints
exactly; a step's global batch is the same windows whatever the number of processes,
and each process takes its own slice.
"""

import numpy as np
import torch


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

    def locate(self, index: int) -> tuple[int, int]:
        """(array number, offset of the window's first token)."""
        shard = int(np.searchsorted(self.starts, index, side="right")) - 1
        return shard, int(index - self.starts[shard]) * self.block_size

    def gather(self, indices) -> torch.Tensor:
        """(len(indices), block_size+1) int64 tokens."""
        rows = []
        for i in indices:
            shard, off = self.locate(int(i))
            rows.append(self.arrays[shard][off:off + self.block_size + 1])
        return torch.from_numpy(np.stack(rows).astype(np.int64))


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
        n, out = len(self.windows), []
        for pos in range(start, start + count):
            out.append(int(self._permutation(pos // n)[pos % n]))
        return out

    def next_step(self, global_windows: int, micro_batch: int, rank: int, world: int):
        """This process's micro-batches (inputs, targets) of the next step's global batch.

        The global batch is the next global_windows positions; micro-step m of rank r takes
        positions [(m*world + r)*micro_batch, +micro_batch) of it, so the union over ranks
        and micro-steps is the same batch for any world size.
        """
        steps = global_windows // (micro_batch * world)
        batches = []
        for m in range(steps):
            first = self.position + (m * world + rank) * micro_batch
            w = self.windows.gather(self.indices(first, micro_batch))
            batches.append((w[:, :-1], w[:, 1:]))
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
    total = 0
    for i in indices:
        shard, off = windows.locate(i)
        total += int(nbytes[windows.arrays[shard][off + 1:off + 1 + windows.block_size]].sum())
    return total
