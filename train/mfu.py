"""Model FLOPs utilisation: achieved FLOP/s over the device's peak for the run's dtype.

GPUs: the vendor's dense peak from a table (unknown GPU: MFU is not reported). CPUs have
no trustworthy table (threads, vector units and bf16 support vary wildly: a bf16 matmul
is ~100x slower than fp32 on an AVX2-only CPU), so the peak is measured once at start-up
with a large matmul in the run's dtype.
"""

import time

import torch
import torch.nn.functional as F

# Dense (no sparsity) peak FLOP/s by GPU name substring, for bf16/fp16 and tf32/fp32.
GPU_PEAKS = [  # (name, bf16/fp16, fp32)
    ("H100 SXM", 989e12, 67e12), ("H100 NVL", 835e12, 60e12), ("H100", 756e12, 51e12),
    ("H200", 989e12, 67e12), ("B200", 2250e12, 80e12), ("A100", 312e12, 19.5e12),
    ("A10G", 70e12, 35e12), ("A10", 125e12, 31e12), ("L40S", 362e12, 91e12),
    ("L4", 121e12, 30e12), ("RTX 4090", 165e12, 83e12), ("RTX 3090", 71e12, 36e12),
    ("V100", 125e12, 15.7e12), ("T4", 65e12, 8.1e12),
]


def gpu_peak(name: str, dtype: torch.dtype) -> float | None:
    for key, half, single in GPU_PEAKS:
        if key in name:
            return half if dtype in (torch.bfloat16, torch.float16) else single
    return None


def measure_matmul_peak(dtype: torch.dtype, device="cpu", budget_s: float = 0.5) -> float:
    """Best FLOP/s of square matmuls in `dtype`: the size doubles from 256 until one
    product takes ~budget/10 (or n=2048), then the best of several repeats counts.
    On CPU the time is this process's CPU time over its threads, so other processes
    competing for the cores do not lower the peak (they lower the achieved MFU)."""
    n, elapsed = 256, 0.0
    while True:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        elapsed = _time(lambda: a @ b, device)
        if elapsed > budget_s / 10 or n >= 2048:
            break
        n *= 2
    repeats = max(3, min(20, int(budget_s / max(elapsed, 1e-6))))
    # a @ b and a @ b.T (what nn.Linear computes) can take different kernels: a bf16 GEMM
    # on an AVX2 CPU runs ~8x faster transposed, so the peak is the faster of the two.
    best = min(_time(fn, device) for fn in (lambda: a @ b, lambda: F.linear(a, b))
               for _ in range(repeats))
    return 2 * n**3 / best


def _time(fn, device) -> float:
    if str(device).startswith("cuda"):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start
    start = time.process_time()
    fn()
    return (time.process_time() - start) / torch.get_num_threads()


def peak_flops(device: torch.device, dtype: torch.dtype) -> tuple[float | None, str]:
    """(peak FLOP/s, where it came from) for MFU; None when unknown."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = gpu_peak(name, dtype)
        return peak, f"{name} datasheet" if peak else f"unknown GPU {name}"
    peak = measure_matmul_peak(dtype)
    return peak, f"measured {str(dtype).removeprefix('torch.')} matmul, {torch.get_num_threads()} threads"
