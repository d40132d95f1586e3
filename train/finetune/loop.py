"""What classification and instruction fine-tuning share: the config, loading the base run
and choosing what trains, and the epoch loop.

The loop reuses the trainer's parts: AdamW with its decay grouping (train.optim), the
warmup + cosine schedule (train.schedule), atomic checkpoints (train.checkpoint),
RUN/metrics.jsonl and the progress line (train.metrics), and DDP under torchrun
(train.distributed). A checkpoint is written after every epoch; `--resume` continues from
the newest one. Under torchrun each process takes its share of every batch; evaluations run
on every process (they are small) and rank 0 writes the files.
"""

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from cc2gpt.model import GPT
from cc2gpt.model.lora import DEFAULT_TARGETS, apply_lora, merge_lora

from .. import distributed as dist_utils
from ..checkpoint import list_checkpoints, load_latest, save_checkpoint
from ..config import TrainConfig
from ..metrics import Metrics
from ..optim import build_optimizer
from ..run import load_run, run_tokenizer_path
from ..schedule import lr_at
from ..setup import resolve_dtype
from ..step import autocast_for

TASKS = ("classify", "instruct")
TRAINABLE = ("head", "last-block", "all", "lora")


@dataclass
class FinetuneConfig:
    """One fine-tuning run, saved as RUN2/config.json and in every checkpoint."""

    task: str = "classify"
    base: str = ""  # the run fine-tuned from
    data: str = ""  # the input file
    trainable: str = "last-block"  # head | last-block | all | lora (instruct: all | lora)
    epochs: int = 5
    batch_size: int = 8
    lr: float = 5e-5
    min_lr_ratio: float = 1.0  # 1.0: a constant lr after warmup, as the book trains
    warmup_steps: int = 0
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # 0 disables clipping
    dtype: str = "auto"  # as the trainer's: fp32 | bf16 | fp16 | auto
    seed: int = 123
    split: tuple = (0.7, 0.1, 0.2)  # train, val, test fractions
    max_length: int | None = None  # tokens per example (None: the model's block_size)
    log_interval: int = 10
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple = DEFAULT_TARGETS
    merge: bool = False  # fold LoRA adapters into the weights at the end
    random_init: bool = False  # the base's architecture and tokenizer, fresh weights
    # classify
    balance: bool = False
    labels: list = field(default_factory=list)  # filled from the data (or given)
    # instruct
    template: str = "alpaca"
    mask_prompt: bool = False
    max_new_tokens: int = 256
    # filled when the run starts
    model: dict = field(default_factory=dict)  # the base GPTConfig
    lora: dict | None = None  # {rank, alpha, targets} while unmerged adapters are in the weights

    def __post_init__(self):
        self.split, self.lora_targets = tuple(self.split), tuple(self.lora_targets)
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r}: expected one of {TASKS}")
        allowed = TRAINABLE if self.task == "classify" else ("all", "lora")
        if self.trainable not in allowed:
            raise ValueError(f"--trainable {self.trainable}: {self.task} takes one of {allowed}")
        if len(self.split) != 3 or any(f < 0 for f in self.split) or abs(sum(self.split) - 1) > 1e-6:
            raise ValueError(f"--split {self.split}: three fractions (train, val, test) adding to 1")
        for name in ("epochs", "batch_size", "lora_rank"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def train_config(self, max_steps: int) -> TrainConfig:
        """The trainer's config for the optimizer and the schedule of this run."""
        return TrainConfig(lr=self.lr, min_lr_ratio=self.min_lr_ratio, warmup_steps=self.warmup_steps,
                           weight_decay=self.weight_decay, grad_clip=self.grad_clip,
                           max_steps=max(max_steps, 1), seed=self.seed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def choose_trainable(model: nn.Module, gpt, cfg: FinetuneConfig, head: nn.Module | None):
    """Freeze or adapt `gpt` as cfg.trainable says; a new `head` always trains."""
    for p in model.parameters():
        p.requires_grad_(cfg.trainable == "all")
    if cfg.trainable == "last-block":
        for p in [*gpt.transformer.h[-1].parameters(), *gpt.transformer.ln_f.parameters()]:
            p.requires_grad_(True)
    elif cfg.trainable == "lora":
        apply_lora(gpt, cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets)
        cfg.lora = {"rank": cfg.lora_rank, "alpha": cfg.lora_alpha, "targets": list(cfg.lora_targets)}
    if head is not None:
        for p in head.parameters():
            p.requires_grad_(True)


def load_base(cfg: FinetuneConfig):
    """(GPT, tokenizer) of the base run (re-initialised with random_init), and RUN2's
    config.model filled from it; seeds torch so new weights start the same for a seed."""
    gpt, tokenizer, _ = load_run(cfg.base)
    merge_lora(gpt)  # a fine-tuned base's adapters become part of its weights
    cfg.model = asdict(gpt.config)
    torch.manual_seed(cfg.seed)
    if cfg.random_init:  # the baseline that shows what pretraining is worth
        gpt = GPT(gpt.config).eval()
    return gpt, tokenizer


def main_process() -> bool:
    """Rank 0 of a torchrun job, or a lone process."""
    return int(os.environ.get("RANK", "0")) == 0


def param_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, tied ones counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


class Task:
    """What a fine-tuning task gives the loop."""

    module: nn.Module  # forward(**batch) -> the scalar training loss
    train: list  # training examples
    tokenizer: object  # the base run's Tokenizer

    def batch(self, examples: list, device) -> dict:  # tensors for module(**batch), on device
        raise NotImplementedError

    def evaluate(self) -> dict:  # the task's metrics now (before training and after each epoch)
        raise NotImplementedError


def prepare_run_dir(cfg: FinetuneConfig, run_dir: Path, resume: bool) -> dict | None:
    """The checkpoint to resume from (None: a fresh run); refuses to overwrite a run."""
    if resume:
        found = load_latest(run_dir)
        if found:
            print(f"resuming from {found[0]}", file=sys.stderr)
            return found[1]
    elif list_checkpoints(run_dir):
        raise ValueError(f"{run_dir} already has checkpoints: pass --resume to continue it, or "
                         "choose another --out")
    return None


def run_epochs(task: Task, cfg: FinetuneConfig, run_dir, resume: bool,
               on_epoch: Callable[[int, dict], None]) -> list[dict]:
    """Train task.module for cfg.epochs epochs; returns the evaluation before training
    (epoch 0) and after every epoch, each {"epoch", "train_loss", **task.evaluate()}."""
    d = dist_utils.setup()
    try:
        return _run(task, cfg, Path(run_dir), resume, on_epoch, d)
    finally:
        dist_utils.teardown(d)


class Trainer(NamedTuple):
    """The pieces one optimizer step needs."""

    wrapped: nn.Module  # task.module, DDP-wrapped under torchrun
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    autocast: object  # a context manager: autocast, or nothing in fp32
    schedule: TrainConfig  # lr_at's view of the run


def setup(task: Task, cfg: FinetuneConfig, steps: int, ckpt: dict | None, d) -> tuple[Trainer, list]:
    """Precision, optimizer, DDP and, resuming, the checkpoint's state; returns the trainer
    and the evaluation history so far."""
    cfg.dtype = dist_utils.broadcast_object(resolve_dtype(cfg.dtype, d.device) if d.is_main else None, d)
    autocast = autocast_for(cfg.dtype, d.device)
    schedule = cfg.train_config(steps)
    task.module.to(d.device).train()
    optimizer = build_optimizer(task.module, schedule, d.device.type)
    history = []
    if ckpt:
        if cfg.lora and ckpt["config"].get("lora") is None:  # a finished run, merged
            merge_lora(task.module)
            cfg.lora = None
        task.module.load_state_dict(ckpt["model"])
        if ckpt["optimizer"] is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
        history = ckpt["history"]
        torch.set_rng_state(ckpt["rng"])
    scaler = torch.amp.GradScaler(d.device.type, enabled=cfg.dtype == "fp16")
    return Trainer(dist_utils.wrap_ddp(task.module, d), optimizer, scaler, autocast, schedule), history


def _run(task, cfg, run_dir, resume, on_epoch, d) -> list[dict]:
    ckpt = prepare_run_dir(cfg, run_dir, resume)
    if cfg.batch_size % d.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} is not a multiple of the {d.world_size} processes")
    per_epoch = len(task.train) // cfg.batch_size  # the last partial batch is dropped
    if per_epoch == 0:
        raise ValueError(f"{len(task.train)} training examples: fewer than one batch of {cfg.batch_size}")
    trainer, history = setup(task, cfg, per_epoch * cfg.epochs, ckpt, d)
    start = ckpt["epoch"] if ckpt else 0
    if d.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        tok = run_tokenizer_path(cfg.base)
        shutil.copyfile(tok, run_dir / tok.name)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    metrics = Metrics(run_dir, False, resume_step=start * per_epoch if ckpt else None) if d.is_main else None
    if not history:
        history.append({"epoch": 0, **task.evaluate()})
        on_epoch(0, history[-1])
    for epoch in range(start, cfg.epochs):
        losses = run_epoch(task, cfg, trainer, epoch, per_epoch, metrics, d)
        history.append({"epoch": epoch + 1, "train_loss": sum(losses) / len(losses), **task.evaluate()})
        on_epoch(epoch + 1, history[-1])
        last = epoch + 1 == cfg.epochs
        if last and cfg.merge and cfg.lora:
            merge_lora(task.module)
            cfg.lora = None
        if d.is_main:
            save_checkpoint(run_dir, (epoch + 1) * per_epoch, {
                "step": (epoch + 1) * per_epoch, "epoch": epoch + 1, "config": cfg.to_dict(),
                "model": task.module.state_dict(), "history": history, "rng": torch.get_rng_state(),
                "tokenizer_sha256": task.tokenizer.sha256,
                "optimizer": None if last and cfg.merge else trainer.optimizer.state_dict()}, keep=2)
            (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    if metrics:
        metrics.plot()
    return history


def run_epoch(task, cfg, trainer: Trainer, epoch: int, per_epoch: int, metrics, d) -> list[float]:
    """One pass over the training examples in a seeded order; the loss of every step."""
    order = torch.randperm(len(task.train), generator=torch.Generator().manual_seed(cfg.seed + epoch))
    losses, t0, tokens = [], time.perf_counter(), 0
    for b in range(per_epoch):
        step = epoch * per_epoch + b
        lr = lr_at(step, trainer.schedule)
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr
        chosen = order[b * cfg.batch_size:(b + 1) * cfg.batch_size].tolist()
        batch = task.batch([task.train[i] for i in chosen[d.rank::d.world_size]], d.device)
        tokens += batch["idx"].numel() * d.world_size
        losses.append(train_step(trainer, batch, cfg.grad_clip, d, step))
        if metrics and (b + 1) % cfg.log_interval == 0:
            record = {"step": step + 1, "epoch": epoch + (b + 1) / per_epoch, "loss": losses[-1],
                      "lr": lr, "tokens_per_s": tokens / (time.perf_counter() - t0)}
            metrics.log(record)
            metrics.progress(record, per_epoch * cfg.epochs)
    return losses


def train_step(t: Trainer, batch: dict, grad_clip: float, d, step: int) -> float:
    """One optimizer step on this process's part of a batch; the loss averaged over processes."""
    with t.autocast:
        loss = t.wrapped(**batch)
    t.scaler.scale(loss).backward()
    value = dist_utils.all_reduce_mean(loss.detach().float(), d).item()
    if not math.isfinite(value):
        raise ValueError(f"step {step + 1}: training loss is {value}; try a lower --lr")
    t.scaler.unscale_(t.optimizer)
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_([p for p in t.wrapped.parameters() if p.requires_grad], grad_clip)
    t.scaler.step(t.optimizer)
    t.scaler.update()
    t.optimizer.zero_grad(set_to_none=True)
    return value
