"""Memory per process of the trainer's parallelisms, at the gpt2-124m shape (12 layers,
768 wide, context 1024, vocabulary 50304), on CPU processes with gloo:

    .venv/bin/python bench/parallel_memory.py [--procs 1,2,4] [--tokens 256] [--skip-ac]

Sharding: for 1 process and for 2 and 4 under FSDP (the model built whole, then sharded),
FSDP with meta-device init (train/parallel.py, the default), TP=2 and FSDP x TP = 2 x 2,
each rank (a torchrun process running train.parallel.build_model, AdamW and one training
step of 1 x --tokens tokens) reports its parameters' bytes (exact: its shards), its peak
resident memory while the model was built, and its peak over its first step (gradients,
AdamW's moments allocated, activations; under FSDP the root unit, the tied embedding and
head, is gathered whole with its gradient, a part that does not shrink with N). Peaks are the kernel's VmHWM, reset before each phase,
above the process's resident memory before the phase; glibc returns every freed block
over 64 KiB at once (MALLOC_MMAP_THRESHOLD_), so the resident memory follows what is live.
The largest rank is shown.

Activation checkpointing: one process, the same shape, a step of 1 x 1024 tokens in fp32
with activation_checkpointing none, selective and full: the peak above the resident memory
before the step (weights, gradients and AdamW state already allocated by a first step), and
the second step's time (the machine's load makes times rough; their ratios are from one
run).

The last line is `ratio: X`: the per-rank parameter bytes of one process over those of the
largest rank of 4 under FSDP with meta init (4.0 is a perfect 1/N split).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 2**20
SHAPE = {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024, "vocab_size": 50304}


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak():
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS


def phase(fn):
    """fn's result, and the resident memory peak (bytes) it added above the start."""
    reset_peak()
    start = rss_kb("VmRSS")
    out = fn()
    return out, (rss_kb("VmHWM") - start) * 1024


def worker(args):
    import torch

    from cc2gpt.train import distributed as dist_utils
    from cc2gpt.train.config import TrainConfig
    from cc2gpt.train.optim import build_optimizer
    from cc2gpt.train.parallel import build_model, clip_grad_norm_, split_param_groups

    torch.set_num_threads(1)
    d = dist_utils.setup()
    cfg = TrainConfig(model_preset="gpt2-124m", model=SHAPE, dtype="fp32", **json.loads(args.cfg))
    d = dist_utils.Dist(d.rank, d.world_size, d.local_rank, d.device, tp=cfg.tp)
    (model, wrapped), build_peak = phase(lambda: build_model(cfg, d))
    params = sum((p.to_local() if hasattr(p, "to_local") else p).numel() * 4 for p in model.parameters())
    optimizer = build_optimizer(model, cfg, "cpu")
    if cfg.tp > 1:
        split_param_groups(optimizer)
    idx = torch.randint(0, 50304, (1, args.tokens + 1), generator=torch.Generator().manual_seed(d.dp_rank))

    def step():
        t0 = time.perf_counter()
        wrapped(idx[:, :-1], idx[:, 1:]).backward()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    first, first_peak = phase(step)
    seconds, step_peak = phase(step)
    record = {"rank": d.rank, "params": params, "build_peak": build_peak, "first_step_peak": first_peak,
              "step_peak": step_peak, "step_s": seconds}
    (Path(args.results) / f"{d.rank}.json").write_text(json.dumps(record))
    dist_utils.teardown(d)


def launch(nproc: int, cfg: dict, tokens: int) -> list[dict]:
    results = Path(tempfile.mkdtemp(prefix="parallel_memory."))
    script = [str(Path(__file__).resolve()), "--worker", "--cfg", json.dumps(cfg), "--tokens", str(tokens),
              "--results", str(results)]
    cmd = ([sys.executable, *script] if nproc == 1 else
           [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *script])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise RuntimeError(f"{cmd} failed:\n{out.stderr[-3000:]}")
    records = [json.loads(f.read_text()) for f in sorted(results.glob("*.json"))]
    shutil.rmtree(results)
    return records


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cfg", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--results", help=argparse.SUPPRESS)
    p.add_argument("--procs", default="1,2,4")
    p.add_argument("--tokens", type=int, default=256, help="tokens per step per rank")
    p.add_argument("--skip-ac", action="store_true")
    args = p.parse_args()
    if args.worker:
        return worker(args)
    procs = [int(n) for n in args.procs.split(",")]
    runs = [("1 process", 1, {})]
    for n in procs[1:]:
        runs += [(f"FSDP, built whole, {n}", n, {"parallel": "fsdp", "meta_init": False}),
                 (f"FSDP, meta init, {n}", n, {"parallel": "fsdp"})]
    runs += [("TP=2", 2, {"tp": 2}), ("FSDP x TP = 2 x 2", 4, {"parallel": "fsdp", "tp": 2})]
    print(f"{'layout':<26} {'params/rank':>12} {'build peak':>11} {'1st step peak':>14} {'vs 1 proc':>9}")
    base = None
    table = {}
    for name, n, cfg in runs:
        worst = max(launch(n, cfg, args.tokens), key=lambda r: r["params"])
        base = base or worst
        table[name] = worst
        print(f"{name:<26} {worst['params'] / MB:>9.0f} MB {worst['build_peak'] / MB:>8.0f} MB "
              f"{worst['first_step_peak'] / MB:>11.0f} MB {base['params'] / worst['params']:>8.2f}x", flush=True)
    if not args.skip_ac:
        print(f"\n{'activation checkpointing':<26} {'step peak':>10} {'vs none':>8} {'step s':>7} {'vs none':>8}")
        ref = None
        for mode in ("none", "selective", "full"):
            r = launch(1, {"activation_checkpointing": mode}, 1024)[0]
            ref = ref or r
            print(f"{mode:<26} {r['step_peak'] / MB:>7.0f} MB {r['step_peak'] / ref['step_peak']:>8.2f} "
                  f"{r['step_s']:>7.2f} {r['step_s'] / ref['step_s']:>8.2f}", flush=True)
    meta4 = table.get(f"FSDP, meta init, {procs[-1]}")
    print(f"ratio: {base['params'] / meta4['params']:.2f}" if meta4 else "ratio: n/a")


if __name__ == "__main__":
    main()
