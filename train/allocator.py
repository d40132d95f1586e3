"""Keep freed memory in the process (glibc) for a training run, so every step reuses the
pages of the step before instead of faulting in fresh, zeroed ones.

glibc gives a block back to the kernel when it is freed if it was mmap'd (anything above its
mmap threshold, which is dynamic and at most 32 MB: logits, gradients, a layer's activations)
and trims the top of its heap above the trim threshold. A training step frees and allocates
the same sizes every time, so it page-faults them all in again: here a fresh 154 MB tensor
costs 100 ms against 15 ms reused, and the CPU 124M step ran ~13% faster without mmap and
trimming (bench/train_throughput.py --system-malloc shows the other side). What it costs: the
process keeps its peak heap while the setting holds, which a training run reaches every step
anyway. CUDA's caching allocator already does this for device memory.

The setting is process-wide, so it is scoped: `keep_freed_memory()` holds it for a block and
then puts glibc's default limits back. glibc can neither report its limits nor turn its
dynamic mmap threshold back on, so after the block that threshold stays fixed where it was
(128 KiB unless the process had raised it); and an allocator tuned from the environment
(MALLOC_*_ variables, glibc.malloc tunables) is left alone, since its values could not be restored.
"""

import contextlib
import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt() parameters (malloc.h)
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536  # glibc's defaults (malloc.c)
MALLOC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_",
              "MALLOC_TOP_PAD_")


def _mallopt(mmap_max: int, trim_threshold: int):
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    libc.mallopt(M_MMAP_MAX, mmap_max)
    libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)  # -1 is read as SIZE_MAX: never trim


@contextlib.contextmanager
def keep_freed_memory():
    """Within the block, glibc serves every allocation from its heap and never trims it;
    glibc's default limits come back when the block ends, however it ends. Yields one line
    saying what was done, for the run's log."""
    tuned = [name for name in MALLOC_ENV if name in os.environ]
    tuned += ["GLIBC_TUNABLES"] if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "") else []
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        yield "system malloc unchanged (not glibc)"
    elif tuned:
        yield f"glibc malloc unchanged (tuned by {', '.join(tuned)})"
    else:
        _mallopt(0, -1)
        try:
            yield ("glibc keeps freed memory for this run (mallopt M_MMAP_MAX=0, "
                   "M_TRIM_THRESHOLD=-1; glibc's defaults restored at its end)")
        finally:
            _mallopt(DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD)
