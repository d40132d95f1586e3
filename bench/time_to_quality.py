"""Time to quality on lm_corpus: how long cc2gpt's default recipe takes to reach the
validation bits per byte that the nanoGPT recipe reaches in a wall-clock budget, both
trained in this run on the same data, batches, precision and threads.

    .venv/bin/python bench/time_to_quality.py [--budget 300] [--ours-budget S] [--vocab 4096]
        [--threads 1] [--peers nanogpt,tiny] [--target BPB] [--arm 'NAME key=value ...']
        [--work DIR] [--set key=value ...]

Data: bench/_common.lm_corpus_out (`cc2gpt curate` on every lm_corpus text file: ~8 KB
documents, no web-page filters, dedup, a deterministic tenth held back as val, one BPE
tokenizer trained on the train documents for everyone).

Peers: the nanoGPT recipe through transformers' GPT2LMHeadModel (learned positions, GELU,
LayerNorm, tied head; AdamW betas 0.9/0.99, weight decay 0.1 on matrices, lr 1e-3, linear
warmup over 20 steps then cosine decay to a tenth, gradient clipping 1.0) in nanoGPT's
shape (6 layers x 6 heads x 384, 256 context) and in cc2gpt's old `gpt2-tiny` shape.
Each trains for the budget B (seconds of training steps; the cosine runs on the fraction
of B spent), on batches of 8 x 256 tokens drawn by cc2gpt's sampler with the same seed,
in the precision cc2gpt's `auto` picks. The better peer's final bits per byte on the
evaluation subset is the target.

Ours: `cc2gpt train`'s trainer on the `--preset` (default `tiny`) with its schedule fitted
to --ours-budget (default B), stopped at its first evaluation at or below the target.

Every run is evaluated every --eval-every steps on the same fixed subset of val windows
(--eval-tokens, spread over the split; evaluation time is not counted), and at its end
on the whole val split. The time to the target interpolates linearly between the two
evaluations around the crossing. The last line is `ratio: X`, X = B / our time to the
target; when ours never gets there, X = the better peer's time to our final bits per
byte / B (below 1). `--target` skips the peers (for tuning); `--arm 'NAME k=v ...'` adds
cc2gpt runs with overrides (the ablation table), each timed to the same target.
Timings on a shared machine are contended: the load average is printed for every run.
"""
import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from _common import LM_CORPUS, lm_corpus_out  # noqa: E402
from cc2gpt.model import PRESETS  # noqa: E402
from cc2gpt.tokenizer import Tokenizer  # noqa: E402
from cc2gpt.tokenizer.manifest import read_manifest, tokenizer_path  # noqa: E402
from cc2gpt.tokenizer.shards import open_split  # noqa: E402
from cc2gpt.train import distributed as dist_utils  # noqa: E402
from cc2gpt.train.allocator import keep_freed_memory  # noqa: E402
from cc2gpt.train.config import TrainConfig, apply_overrides, load_preset  # noqa: E402
from cc2gpt.train.data import Sampler, Windows, val_set  # noqa: E402
from cc2gpt.train.evaluate import evaluate  # noqa: E402
from cc2gpt.train.setup import resolve_dtype  # noqa: E402
from cc2gpt.train.step import autocast_for  # noqa: E402
from cc2gpt.train.trainer import Trainer  # noqa: E402

BLOCK, BATCH, WARMUP, SEED = 256, 8, 20, 1337
PEER_SHAPES = {"nanogpt": (6, 6, 384), "tiny": tuple(getattr(PRESETS["gpt2-tiny"], k)
                                                     for k in ("n_layer", "n_head", "n_embd"))}


class Peer(torch.nn.Module):
    """transformers' GPT2LMHeadModel called as cc2gpt's GPT is: (idx, targets) -> mean CE."""

    def __init__(self, shape, vocab_size: int):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        n_layer, n_head, n_embd = shape
        self.hf = GPT2LMHeadModel(GPT2Config(
            vocab_size=vocab_size, n_positions=BLOCK, n_embd=n_embd, n_layer=n_layer,
            n_head=n_head, activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
            attn_pdrop=0.0, tie_word_embeddings=True))

    def forward(self, idx, targets):
        logits = self.hf(input_ids=idx).logits
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-1)


class Data:
    """The run's train windows, the evaluation subset and the whole val split."""

    def __init__(self, out: Path, eval_tokens: int):
        manifest = read_manifest(out)
        self.tokenizer = Tokenizer.from_file(tokenizer_path(out, manifest))
        self.train = Windows([s.tokens for s in open_split(out, "train", manifest)], BLOCK)
        self.sub = val_set(out, manifest, BLOCK, eval_tokens, 1, self.tokenizer)
        self.full = val_set(out, manifest, BLOCK, 0, 1, self.tokenizer)
        self.vocab = -(-self.tokenizer.vocab_size // 64) * 64  # as the trainer pads it


def bpb(model, val, autocast) -> float:
    return evaluate(model, val, dist_utils.Dist(), BATCH, autocast)["val_bpb"]


def train_peer(shape, data: Data, budget: float, dtype: str, eval_every: int) -> dict:
    """The nanoGPT recipe for `budget` seconds of steps; its curve and final numbers."""
    torch.manual_seed(SEED)
    model = Peer(shape, data.vocab)
    params = list(model.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), fused=True)
    autocast = autocast_for(dtype, torch.device("cpu"))
    sampler, curve, step, elapsed = Sampler(data.train, SEED), [], 0, 0.0
    while elapsed < budget:
        t0 = time.perf_counter()
        progress = min(elapsed / budget, 1.0)
        lr = (1e-3 * (step + 1) / WARMUP if step < WARMUP
              else 1e-4 + 0.5 * (1 + math.cos(math.pi * progress)) * 9e-4)
        for group in opt.param_groups:
            group["lr"] = lr
        (w,) = sampler.next_step(BATCH, BATCH, 0, 1)
        with autocast:
            loss = model(w[:, :-1], w[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step, elapsed = step + 1, elapsed + time.perf_counter() - t0
        if step % eval_every == 0 or elapsed >= budget:
            curve.append((step, elapsed, bpb(model, data.sub, autocast)))
    return {"curve": curve, "steps": step, "elapsed": elapsed, "final": curve[-1][2],
            "full": bpb(model, data.full, autocast),
            "params": sum(p.numel() for p in params)}


class UntilTarget(Trainer):
    """cc2gpt's trainer, ending after its first evaluation at or below `target`."""

    target, reached = 0.0, False

    def log(self, loss, lr, tokens_per_s, evaluate_now):
        record = super().log(loss, lr, tokens_per_s, evaluate_now)
        if evaluate_now:
            self.curve.append((record["step"], record["elapsed_s"], record["val_bpb"]))
            self.reached = record["val_bpb"] <= self.target
        return record

    def due(self, signalled):
        due = super().due(signalled)
        return due._replace(last=due.last or self.reached)


def train_ours(cfg: TrainConfig, out: Path, run: Path, data: Data, target: float) -> dict:
    d = dist_utils.setup()
    with keep_freed_memory() as memory:
        trainer = UntilTarget(cfg, out, run, False, d, time.perf_counter, memory)
        trainer.target, trainer.curve = target, []
        trainer.metrics.plot = lambda: None  # a PNG per evaluation would only add wall time
        record = trainer.run()
    return {"curve": trainer.curve, "steps": record["step"], "elapsed": record["elapsed_s"],
            "final": trainer.curve[-1][2], "full": bpb(trainer.model, data.full, trainer.autocast),
            "params": sum(p.numel() for p in trainer.model.parameters()),
            "tokens_per_s": record["step"] * cfg.tokens_per_step / record["elapsed_s"]}


def time_to(curve, target: float, at: int = 1) -> float | None:
    """Seconds (at=1; steps: at=0) at which the curve of (step, seconds, bpb) first gets
    to target, linear between evaluations."""
    prev = (0.0, float("inf"))
    for point in curve:
        x, v = point[at], point[2]
        if v <= target:
            x0, v0 = prev
            return x if v0 == float("inf") else x0 + (x - x0) * (v0 - target) / (v0 - v)
        prev = (x, v)
    return None


def show(name: str, r: dict, load: tuple[float, float]):
    points = " ".join(f"{t:.0f}s:{v:.3f}" for _, t, v in r["curve"])
    print(f"\n{name}: {r['params']:,} parameters, {r['steps']} steps in {r['elapsed']:.1f} s "
          f"({r['steps'] * BATCH * BLOCK / r['elapsed']:,.0f} tokens/s), load average "
          f"{load[0]:.1f} -> {load[1]:.1f}\n  final bpb {r['final']:.4f} (eval subset), "
          f"{r['full']:.4f} (whole val)\n  curve (seconds:bpb): {points}")


def run_arm(name, fn):
    load0 = os.getloadavg()[0]
    r = fn()
    show(name, r, (load0, os.getloadavg()[0]))
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=300.0, help="peers' seconds of training (B)")
    p.add_argument("--ours-budget", type=float, help="seconds our schedule is fitted to (default B)")
    p.add_argument("--vocab", type=int, default=4096, help="BPE vocabulary size")
    p.add_argument("--threads", type=int, default=1, help="torch threads for every run")
    p.add_argument("--eval-every", type=int, default=10, help="steps between evaluations")
    p.add_argument("--eval-tokens", type=int, default=16384, help="evaluation subset size")
    p.add_argument("--peers", default="nanogpt,tiny", help=f"of {sorted(PEER_SHAPES)}")
    p.add_argument("--target", type=float, help="skip the peers and time ours to this bpb")
    p.add_argument("--preset", default="tiny", help="our trainer preset")
    p.add_argument("--arm", action="append", default=[], metavar="'NAME k=v ...'",
                   help="another cc2gpt run with these overrides (repeatable)")
    p.add_argument("--work", help="folder for OUT/ and runs (kept); default a temporary one")
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[],
                   metavar="KEY=VALUE", help="overrides of our preset, as `cc2gpt train --set`")
    args = p.parse_args()
    if not LM_CORPUS.is_dir():
        sys.exit(f"error: {LM_CORPUS.resolve()} not found")
    torch.set_num_threads(args.threads)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="time_to_quality."))
    out = work / "out"
    try:
        if not (out / "manifest.json").exists():
            for name, (n, nbytes, ntok) in lm_corpus_out(out, args.vocab).items():
                print(f"{name:<5} {n:>5} documents, {nbytes:>9,} bytes, {ntok:>9,} tokens "
                      f"({nbytes / ntok:.2f} bytes/token)")
        data = Data(out, args.eval_tokens)
        dtype = resolve_dtype("auto", torch.device("cpu"))
        print(f"vocabulary {args.vocab}; {args.threads} thread(s), {dtype}; batch {BATCH} x "
              f"{BLOCK}; eval subset {len(data.sub.indices) * BLOCK:,} tokens every "
              f"{args.eval_every} steps, whole val {len(data.full.indices) * BLOCK:,} tokens; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        peers = {} if args.target else {
            s: run_arm(f"peer nanoGPT recipe, {s} shape {PEER_SHAPES[s]}", lambda s=s: train_peer(
                PEER_SHAPES[s], data, args.budget, dtype, args.eval_every))
            for s in args.peers.split(",")}
        best = min(peers, key=lambda s: peers[s]["final"]) if peers else None
        target = args.target or peers[best]["final"]
        arms = [("ours", args.overrides)] + [(a.split()[0], args.overrides + a.split()[1:])
                                             for a in args.arm]
        results = {}
        for i, (name, overrides) in enumerate(arms):
            cfg = TrainConfig.from_dict(apply_overrides(load_preset(args.preset), [
                f"max_time={args.ours_budget or args.budget}", "max_steps=1000000000",
                f"eval_interval={args.eval_every}", f"eval_tokens={args.eval_tokens}",
                "checkpoint_interval=0", "log_interval=0", "tensorboard=false", f"seed={SEED}",
                f"dtype={dtype}", *overrides]))
            results[name] = run_arm(f"cc2gpt {args.preset} {' '.join(overrides)}".strip(),
                                    lambda: train_ours(cfg, out, work / f"run{i}", data, target))
        print(f"\ntarget {target:.4f} bpb on the eval subset"
              + (f" (peer {best}'s final after {args.budget:g} s)" if best else " (given)"))
        print(f"{'run':<16} {'time to target':>15} {'ratio':>7} {'steps to target':>16} "
              f"{'final bpb':>10} {'tokens/s':>9}")
        for name, r in results.items():
            t, n = time_to(r["curve"], target), time_to(r["curve"], target, at=0)
            print(f"{name:<16} {f'{t:.1f} s' if t else 'not reached':>15} "
                  f"{args.budget / t if t else 0:>7.2f} {f'{n:.0f}' if n else '-':>16} "
                  f"{r['final']:>10.4f} {r['tokens_per_s']:>9,.0f}")
        t = time_to(results["ours"]["curve"], target)
        if t is None and best:  # the peer's time to our final bpb, as a share of the budget
            t_peer = time_to(peers[best]["curve"], results["ours"]["final"])
            print(f"ours never reached the target; the peer reached our final "
                  f"{results['ours']['final']:.4f} after {t_peer:.1f} s")
            print(f"ratio: {t_peer / args.budget:.3f}")
        else:
            print(f"ratio: {args.budget / t if t else 0:.3f}")
        (work / "results.json").write_text(json.dumps({"target": target, "peers": peers,
                                                       "ours": results}, indent=1))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
