"""train.allocator.keep_freed_memory: within the block a step's big buffers stop
page-faulting once the heap has grown to hold them, and a big allocation is not mmap'd;
after the block glibc mmaps big allocations again (its default limits are back). Each in
a fresh process, as the setting is process-wide."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import ctypes, resource, sys, torch
from train.allocator import keep_freed_memory

libc = ctypes.CDLL(None)

class MallInfo2(ctypes.Structure):  # glibc's struct mallinfo2 (malloc.h), all size_t
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def mmapped(size):  # whether glibc serves a `size`-byte allocation by mmap (never touched)
    before = libc.mallinfo2().hblks
    p = libc.malloc(size)
    after = libc.mallinfo2().hblks
    libc.free(p)
    return after > before

def step():  # a training step's pattern: big buffers allocated, written and freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [torch.ones(n) for n in (10 << 20, 3 << 20, 40 << 20)]  # 40, 12 and 160 MB
    del buffers
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def faults():  # the last 3 of 10 steps: the heap has grown by then
    return sum([step() for _ in range(10)][-3:])

if sys.argv[1] == "system":
    print("glibc's defaults", faults(), mmapped(512 << 20), "-", sep="|")
else:
    with keep_freed_memory() as what:
        inside = faults(), mmapped(512 << 20)
    # 1 GiB: more than the heap the block left behind holds, so glibc's limits decide
    print(what, *inside, mmapped(1 << 30), sep="|")
"""


def run(mode, **env):
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=REPO, check=True, text=True,
                         capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO), **env})
    what, faults, mmapped, mmapped_after = out.stdout.strip().split("|")
    return what, int(faults), mmapped == "True", mmapped_after == "True"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_freed_memory_is_reused_inside_the_block_and_defaults_return_after():
    _, system_faults, system_mmaps, _ = run("system")
    what, faults, mmaps, mmaps_after = run("kept")
    assert "keeps freed memory" in what and "restored" in what
    assert system_faults > 3 * 50_000  # glibc's defaults: every step faults its 212 MB in again
    assert faults < system_faults / 100
    assert system_mmaps and not mmaps and mmaps_after


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_an_allocator_tuned_from_the_environment_is_left_alone():
    what, faults, mmaps, _ = run("kept", MALLOC_TRIM_THRESHOLD_="1000000")
    assert what == "glibc malloc unchanged (tuned by MALLOC_TRIM_THRESHOLD_)"
    assert faults > 3 * 50_000 and mmaps
