"""The training loop: data, model, optimizer, precision, parallelism, evaluation,
checkpoints and metrics, wired together for one run directory."""

import contextlib
import hashlib
import json
import math
import shutil
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import torch

from model import GPT
from tokenizer import Tokenizer
from tokenizer.manifest import read_manifest, tokenizer_path
from tokenizer.shards import open_split

from . import distributed as dist_utils
from .allocator import reuse_freed_memory
from .checkpoint import list_checkpoints, load_latest, save_checkpoint
from .config import TrainConfig
from .data import Sampler, Windows, eval_windows, target_bytes
from .metrics import Metrics
from .mfu import measure_matmul_peak, peak_flops
from .optim import build_optimizer
from .schedule import lr_at
from .stop import StopOnSignal

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingError(RuntimeError):
    """The run cannot go on (non-finite loss, mismatched data, bad batch geometry)."""


def sha256_file(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def resolve_dtype(name: str, device: torch.device) -> str:
    """'auto': bf16 on GPUs with bf16 (else fp16); on CPU the faster of fp32 and bf16
    matmuls as measured here (bf16 is much slower than fp32 on CPUs without bf16 units)."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    fp32, bf16 = (measure_matmul_peak(t, budget_s=0.2) for t in (torch.float32, torch.bfloat16))
    return "bf16" if bf16 > fp32 else "fp32"


def check_tokenizer(data_dir: Path, manifest: dict, run_dir: Path, ckpt: dict | None) -> Path:
    """The data's tokenizer file, after checking it is the one the manifest (ValueError
    otherwise) and the run (TrainingError naming both checksums) were made with."""
    path = tokenizer_path(data_dir, manifest)
    actual = manifest["tokenizer"]["sha256"]
    for what, sha in (("RUN/tokenizer.model", sha256_file(run_dir / "tokenizer.model")
                       if (run_dir / "tokenizer.model").exists() else None),
                      ("the checkpoint", ckpt and ckpt["tokenizer_sha256"])):
        if sha is not None and sha != actual:
            raise TrainingError(
                f"refusing {data_dir}: its shards were tokenized with tokenizer sha256 {actual}, "
                f"but {what} of run {run_dir} records {sha}; train a new run (--out) for this data")
    return path


def train(cfg: TrainConfig, data_dir, run_dir, resume: bool = False) -> dict:
    """Train to cfg.max_steps, the cfg.max_time budget or a SIGTERM/SIGINT, whichever comes
    first; returns the last logged metrics record (with "stopped_by": the signal's name
    when a signal stopped it, after writing a checkpoint)."""
    d = dist_utils.setup()
    try:
        return _train(cfg, Path(data_dir), Path(run_dir), resume, d)
    finally:
        dist_utils.teardown(d)


def _train(cfg: TrainConfig, data_dir: Path, run_dir: Path, resume: bool, d) -> dict:
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if d.is_main else (lambda msg: None)
    ckpt = None
    if resume:
        found = load_latest(run_dir)
        if found:
            say(f"resuming from {found[0]}")
            ckpt = found[1]
        else:
            say(f"no checkpoint in {run_dir}/checkpoints: starting from step 0")
    elif list_checkpoints(run_dir):
        raise TrainingError(f"{run_dir} already has checkpoints: pass --resume to continue it, "
                            "or choose another --out")
    manifest = read_manifest(data_dir)
    tok_path = check_tokenizer(data_dir, manifest, run_dir, ckpt)
    tokenizer = Tokenizer.from_file(tok_path)

    model_cfg = cfg.model_config(tokenizer.vocab_size)
    # RUN/config.json records the resolved config: the full model and the dtype chosen
    # (by rank 0, so every process of a run computes in the same precision).
    cfg.model = asdict(model_cfg)
    cfg.dtype = dist_utils.broadcast_object(resolve_dtype(cfg.dtype, d.device) if d.is_main else None, d)
    dtype = cfg.dtype
    if d.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (run_dir / "tokenizer.model").exists():
            shutil.copyfile(tok_path, run_dir / "tokenizer.model")
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    T = model_cfg.block_size
    global_windows, rem = divmod(cfg.tokens_per_step, T)
    per_micro = cfg.micro_batch_size * d.world_size
    if rem or global_windows % per_micro:
        raise TrainingError(
            f"tokens_per_step={cfg.tokens_per_step} must be a multiple of block_size ({T}) x "
            f"micro_batch_size ({cfg.micro_batch_size}) x processes ({d.world_size}) = {T * per_micro}")
    accum = global_windows // per_micro

    train_windows = Windows([s.tokens for s in open_split(data_dir, "train", manifest)], T)
    sampler = Sampler(train_windows, cfg.seed, position=ckpt["data_position"] if ckpt else 0)
    val = val_set(data_dir, manifest, T, cfg.eval_tokens, d.world_size, tokenizer)
    say(f"data: {len(train_windows):,} train windows of {T + 1} tokens; {accum} micro-step(s) of "
        f"{cfg.micro_batch_size} x {d.world_size} process(es) per step; "
        + (f"val {len(val.indices) * T:,} tokens ({val.nbytes:,} bytes)" if val else "no val split"))

    if d.device.type == "cpu":  # CUDA's caching allocator already keeps device memory
        reuse_freed_memory()
    torch.manual_seed(cfg.seed)
    model = GPT(model_cfg).to(d.device)
    flops_per_token = model.flops_per_token()
    if cfg.compile and cfg.parallel != "fsdp":
        model.compile()
    elif cfg.compile:  # FSDP shards per block, so compile per block (torchtitan's order)
        for block in model.transformer.h:
            block.compile()
    wrapped = dist_utils.wrap(model, cfg.parallel, d)
    optimizer = build_optimizer(model, cfg, d.device.type)
    scaler = torch.amp.GradScaler(d.device.type, enabled=dtype == "fp16")
    autocast = (torch.autocast(d.device.type, dtype=TORCH_DTYPES[dtype]) if dtype != "fp32"
                else contextlib.nullcontext())
    start = 0
    if ckpt:
        dist_utils.load_full_state(model, optimizer, ckpt["model"], ckpt["optimizer"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"])
        start = ckpt["step"]
    peak, peak_source = peak_flops(d.device, TORCH_DTYPES[dtype]) if d.is_main else (None, "")
    say(f"model: {model.num_params():,} parameters, {flops_per_token / 1e6:.1f} MFLOP/token; "
        f"dtype {dtype}; peak " + (f"{peak / 1e9:,.0f} GFLOP/s ({peak_source})" if peak
                                   else f"unknown ({peak_source}): no MFU"))

    metrics = Metrics(run_dir, cfg.tensorboard, resume_step=start if ckpt else None) if d.is_main else None
    elapsed = ckpt.get("elapsed", 0.0) if ckpt else 0.0  # training seconds, for max_time
    record, tokens_since, time_since = {}, 0, 0.0
    with StopOnSignal() as stop:
        for step in range(start, cfg.max_steps):
            t0 = time.perf_counter()
            lr = lr_at(step, cfg, elapsed)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batches = sampler.next_step(global_windows, cfg.micro_batch_size, d.rank, d.world_size)
            done = step + 1
            loss_value = train_step(wrapped, optimizer, scaler, autocast, batches, cfg.grad_clip, d, done)
            seconds = time.perf_counter() - t0
            time_since += seconds
            tokens_since += cfg.tokens_per_step
            # Every rank stops at the same step and sets the same lr: the slowest clock counts.
            elapsed, signum = dist_utils.all_reduce_max([elapsed + seconds, stop.signum], d)
            out_of_time = bool(cfg.max_time) and elapsed >= cfg.max_time
            finished = done == cfg.max_steps or out_of_time
            last = finished or bool(signum)

            evaluate_now = val and cfg.eval_interval and (done % cfg.eval_interval == 0 or finished)
            if evaluate_now or last or (cfg.log_interval and done % cfg.log_interval == 0):
                tps = tokens_since / time_since
                record = {"step": done, "loss": loss_value, "lr": lr, "tokens_per_s": tps,
                          "mfu": tps * flops_per_token / (peak * d.world_size) if peak else None,
                          "elapsed_s": elapsed}
                if evaluate_now:
                    vloss = evaluate(dist_utils.unwrap(wrapped), val.windows, val.indices, d,
                                     cfg.micro_batch_size, autocast)
                    record |= {"val_loss": vloss,
                               "val_bpb": vloss / math.log(2) * len(val.indices) * T / val.nbytes}
                if metrics:
                    metrics.log(record)
                    metrics.progress(record, cfg.max_steps, cfg.max_time)
                tokens_since, time_since = 0, 0.0
            # A stop by signal always checkpoints, so --resume continues from this very step.
            if signum or cfg.checkpoint_interval and (done % cfg.checkpoint_interval == 0 or finished):
                model_state, optim_state = dist_utils.full_state(wrapped, optimizer)
                if d.is_main:
                    save_checkpoint(run_dir, done, {
                        "step": done, "config": cfg.to_dict(), "model": model_state,
                        "optimizer": optim_state, "scaler": scaler.state_dict(),
                        "data_position": sampler.position, "rng": torch.get_rng_state(),
                        "elapsed": elapsed, "tokenizer_sha256": tokenizer.sha256,
                        "vocab_size": tokenizer.vocab_size, "eos_id": tokenizer.eos_id},
                        cfg.keep_checkpoints)
            if metrics and evaluate_now and not last:  # the last step's plot is drawn below
                metrics.plot()
            if out_of_time:
                say(f"time budget of {cfg.max_time:g} s reached after step {done}")
            if signum:
                name = signal.Signals(int(signum)).name
                say(f"stopped by {name} after step {done}; checkpoint written, continue with --resume")
                record = {**record, "stopped_by": name}
            if last:
                break
    if metrics:
        metrics.plot()
        metrics.close()
    return record


def train_step(wrapped, optimizer, scaler, autocast, batches, grad_clip: float, d, done: int) -> float:
    """Optimizer step number `done` on this process's micro-batches (gradient accumulation,
    gradients synced on the last one only), with the NaN guard, clipping and the scaler;
    returns the step's loss averaged over processes. bench/train_throughput.py times this."""
    loss_sum = torch.zeros((), device=d.device)
    for m, (x, y) in enumerate(batches):
        x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
        with dist_utils.gradient_sync(wrapped, m == len(batches) - 1), autocast:
            loss = wrapped(x, y)
            loss = loss / len(batches)  # the step's loss is the mean over micro-batches
        scaler.scale(loss).backward()
        loss_sum += loss.detach()
    loss_value = dist_utils.all_reduce_mean(loss_sum, d).item()
    if not math.isfinite(loss_value):
        raise TrainingError(f"step {done}: training loss is {loss_value}; stopping (the last good "
                            "checkpoint is in RUN/checkpoints; try a lower lr)")
    scaler.unscale_(optimizer)
    if grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(wrapped.parameters(), grad_clip)
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP: a DTensor
        if not scaler.is_enabled() and not torch.isfinite(norm):  # fp16: the scaler skips the step
            raise TrainingError(f"step {done}: gradient norm is {norm.item()}; stopping")
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return loss_value


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


@torch.no_grad()
def evaluate(model, windows: Windows, indices: list[int], d, micro_batch: int, autocast) -> float:
    """Mean cross-entropy (nats/token) over the validation windows, split across ranks."""
    was_training = model.training
    model.eval()
    per_rank = len(indices) // d.world_size
    mine = indices[d.rank * per_rank:(d.rank + 1) * per_rank]
    total = torch.zeros((), device=d.device, dtype=torch.float64)
    for i in range(0, len(mine), micro_batch):
        w = windows.gather(mine[i:i + micro_batch]).to(d.device)
        with autocast:
            loss = model(w[:, :-1], w[:, 1:])
        total += loss.double() * w.shape[0]
    model.train(was_training)
    return dist_utils.all_reduce_mean(total, d).item() / per_rank
