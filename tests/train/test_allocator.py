"""train.allocator.reuse_freed_memory: a step's big buffers stop page-faulting once the heap
has grown to hold them (counted in a fresh process, as the setting is process-wide)."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import resource, sys, torch
from train.allocator import reuse_freed_memory
took = reuse_freed_memory() if sys.argv[1] == "on" else False

def step():  # a training step's pattern: big buffers allocated, written and freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [torch.ones(n) for n in (10 << 20, 3 << 20, 40 << 20)]  # 40, 12 and 160 MB
    del buffers
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

print(took, sum([step() for _ in range(10)][-3:]))
"""


def faults(mode):
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    took, kept = faults("on")
    _, system = faults("off")
    assert took
    assert system > 3 * 50_000  # glibc's defaults: every step faults its 212 MB in again
    assert kept < system / 100
