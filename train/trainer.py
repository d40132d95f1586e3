"""The training loop, laid out as torchtitan's trainer: `Trainer.__init__` sets a run up
(train/setup.py: checkpoint, tokenizer checks, resolved config, run folder; then the data,
the model and its wrapping), `Trainer.run` loops over steps, and each part of a step is
its own unit: the optimizer step and reading its loss back (train/step.py), evaluation
(train/evaluate.py) and everything a checkpoint holds (train/state.py)."""

import contextlib
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import torch

from cc2gpt.tokenizer import Tokenizer
from cc2gpt.tokenizer.manifest import read_manifest
from cc2gpt.tokenizer.shards import open_split

from . import distributed as dist_utils
from .allocator import keep_freed_memory
from .checkpoint import DCPWriter
from .config import TrainConfig, batch_split
from .data import Sampler, ValSet, Windows, val_set
from .evaluate import evaluate
from .metrics import Metrics
from .mfu import peak_flops
from .optim import build_optimizer
from .parallel import build_model, split_param_groups
from .schedule import lr_at
from .setup import check_tokenizer, find_checkpoint, resolve, write_run_dir
from .state import TrainState
from .step import TORCH_DTYPES, TrainStep, autocast_for
from .stop import StopOnSignal


def train(cfg: TrainConfig, data_dir, run_dir, resume: bool = False, *,
          clock: Callable[[], float] = time.perf_counter) -> dict:
    """Train to cfg.max_steps, the cfg.max_time budget or a SIGTERM/SIGINT, whichever comes
    first; returns the last logged metrics record (with "stopped_by": the signal's name
    when a signal stopped it, after writing a checkpoint). cfg is not changed (the run's
    resolved config is RUN/config.json). clock: seconds, timing the steps and the budget."""
    d = dist_utils.setup()
    try:  # on CPU, glibc keeps freed memory for the run (train/allocator.py)
        with keep_freed_memory() if d.device.type == "cpu" else \
                contextlib.nullcontext("CUDA's caching allocator; host malloc unchanged") as memory:
            return Trainer(cfg, Path(data_dir), Path(run_dir), resume, d, clock, memory).run()
    finally:
        dist_utils.teardown(d)


class Due(NamedTuple):
    """What the step just taken is followed by."""
    log: bool
    evaluate: bool
    checkpoint: bool
    out_of_time: bool
    last: bool


class Trainer:
    """One training run: set up by __init__ (in the order the parts depend on each other),
    trained by run()."""

    def __init__(self, cfg: TrainConfig, data_dir: Path, run_dir: Path, resume: bool,
                 d: dist_utils.Dist, clock: Callable[[], float], memory: str):
        self.d, self.run_dir, self.clock = d, run_dir, clock
        self.say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if d.is_main else (lambda msg: None)
        ckpt_path, ckpt = find_checkpoint(run_dir, resume, self.say)
        manifest = read_manifest(data_dir)
        tokenizer_file = check_tokenizer(data_dir, manifest, run_dir, ckpt)
        self.tokenizer = Tokenizer.from_file(tokenizer_file)
        self.cfg = cfg = resolve(cfg, self.tokenizer.vocab_size, d)
        self.d = d = replace(d, tp=cfg.tp)
        self.global_windows, accum = batch_split(cfg, d.dp_size)
        if d.is_main:
            write_run_dir(run_dir, cfg, tokenizer_file)
        sampler, self.val = self.build_data(data_dir, manifest, accum)
        self.model, wrapped = build_model(cfg, d)
        optimizer = build_optimizer(self.model, cfg, d.device.type)
        if cfg.tp > 1:
            split_param_groups(optimizer)
        scaler = torch.amp.GradScaler(d.device.type, enabled=cfg.dtype == "fp16")
        self.autocast = autocast_for(cfg.dtype, d.device)
        self.train_step = TrainStep(wrapped, optimizer, scaler, self.autocast, cfg.grad_clip, d)
        self.state = TrainState(wrapped, optimizer, scaler, sampler)
        if ckpt:
            self.state.load(ckpt_path, ckpt)
        self.writer = DCPWriter(run_dir, cfg.keep_checkpoints, d.rank, d.enabled, cfg.async_checkpoint)
        self.flops_per_token = self.model.flops_per_token()
        self.peak, peak_source = peak_flops(d.device, TORCH_DTYPES[cfg.dtype]) if d.is_main else (None, "")
        self.say(f"model: {self.model.num_params():,} parameters, {self.flops_per_token / 1e6:.1f} "
                 f"MFLOP/token; dtype {cfg.dtype}; peak " + (
                     f"{self.peak / 1e9:,.0f} GFLOP/s ({peak_source})" if self.peak
                     else f"unknown ({peak_source}): no MFU"))
        self.say(f"allocator: {memory}")
        self.metrics = (Metrics(run_dir, cfg.tensorboard, resume_step=self.state.step if ckpt else None)
                        if d.is_main else None)

    def build_data(self, data_dir: Path, manifest: dict, accum: int) -> tuple[Sampler, ValSet | None]:
        """The training windows' sampler (at position 0; a checkpoint moves it) and the fixed
        validation windows (None without a val split)."""
        cfg, d, T = self.cfg, self.d, self.cfg.model["block_size"]
        windows = Windows([s.tokens for s in open_split(data_dir, "train", manifest)], T)
        val = val_set(data_dir, manifest, T, cfg.eval_tokens, d.dp_size, self.tokenizer)
        self.say(f"data: {len(windows):,} train windows of {T + 1} tokens; {accum} micro-step(s) of "
                 f"{cfg.micro_batch_size} x {d.dp_size} process(es) per step"
                 + (f" (each a group of {d.tp} tensor-parallel ranks); " if d.tp > 1 else "; ")
                 + (f"val {len(val.indices) * T:,} tokens ({val.nbytes:,} bytes)" if val
                    else "no val split"))
        return Sampler(windows, cfg.seed), val

    def run(self) -> dict:
        """Steps until the last (max_steps, the time budget or a signal); the last record."""
        cfg, d, state = self.cfg, self.d, self.state
        record, tokens, seconds = {}, 0, 0.0  # tokens and step seconds since the last log
        with StopOnSignal() as stop, contextlib.closing(self.writer):
            while state.step < cfg.max_steps:
                t0 = self.clock()
                lr = lr_at(state.step, cfg, state.elapsed)
                batches = state.sampler.next_step(self.global_windows, cfg.micro_batch_size, d.dp_rank,
                                                  d.dp_size, pin=d.device.type == "cuda")
                loss = self.train_step(batches, state.step + 1, lr)
                state.step += 1
                step_seconds = self.clock() - t0
                tokens, seconds = tokens + cfg.tokens_per_step, seconds + step_seconds
                # Every rank stops at the same step and sets the same lr: the slowest clock counts.
                state.elapsed, signum = dist_utils.all_reduce_max([state.elapsed + step_seconds,
                                                                   stop.signum], d)
                due = self.due(bool(signum))
                if due.log or due.checkpoint:  # read back (and checked) before anything is written
                    loss = self.train_step.read(loss, state.step)
                if due.log:
                    record = self.log(loss, lr, tokens / seconds, due.evaluate)
                    tokens, seconds = 0, 0.0
                if due.checkpoint:
                    self.save()
                if self.metrics and due.evaluate and not due.last:  # the last plot is drawn below
                    self.metrics.plot()
                record = self.report_stop(due, signum, record)
                if due.last:
                    break
        if self.metrics:
            self.metrics.plot()
            self.metrics.close()
        return record

    def due(self, signalled: bool) -> Due:
        """What follows the step just taken; the same on every rank (signals and the clock
        are agreed on before)."""
        cfg, done = self.cfg, self.state.step
        out_of_time = bool(cfg.max_time) and self.state.elapsed >= cfg.max_time
        finished = done == cfg.max_steps or out_of_time
        evaluate_now = bool(self.val and cfg.eval_interval and (done % cfg.eval_interval == 0 or finished))
        last = finished or signalled
        log = evaluate_now or last or bool(cfg.log_interval and done % cfg.log_interval == 0)
        # A stop by signal always checkpoints, so --resume continues from this very step.
        checkpoint = signalled or bool(cfg.checkpoint_interval and (done % cfg.checkpoint_interval == 0
                                                                    or finished))
        return Due(log, evaluate_now, checkpoint, out_of_time, last)

    def log(self, loss: float, lr: float, tokens_per_s: float, evaluate_now: bool) -> dict:
        """The metrics record of the step just taken (evaluated if evaluate_now), logged."""
        record = {"step": self.state.step, "loss": loss, "lr": lr, "tokens_per_s": tokens_per_s,
                  "mfu": (tokens_per_s * self.flops_per_token / (self.peak * self.d.world_size)
                          if self.peak else None),
                  "elapsed_s": self.state.elapsed}
        if evaluate_now:
            record |= evaluate(self.model, self.val, self.d, self.cfg.micro_batch_size, self.autocast)
        if self.metrics:
            self.metrics.log(record)
            self.metrics.progress(record, self.cfg.max_steps, self.cfg.max_time)
        return record

    def save(self):
        """A DCP checkpoint of the step just taken, written in the background (every rank
        writes its shards; a collective under torchrun), with the config and the tokenizer's
        identity in its meta.json."""
        meta = {"config": self.cfg.to_dict(), "tokenizer_sha256": self.tokenizer.sha256,
                "vocab_size": self.tokenizer.vocab_size, "eos_id": self.tokenizer.eos_id}
        self.writer.save(self.state.step, self.state.state_dict(), meta)

    def report_stop(self, due: Due, signum: float, record: dict) -> dict:
        """Say why the run stops after this step, if it does; record gains "stopped_by" when
        a signal stopped it."""
        if due.out_of_time:
            self.say(f"time budget of {self.cfg.max_time:g} s reached after step {self.state.step}")
        if not signum:
            return record
        name = signal.Signals(int(signum)).name
        self.say(f"stopped by {name} after step {self.state.step}; checkpoint written, continue "
                 "with --resume")
        return {**record, "stopped_by": name}
