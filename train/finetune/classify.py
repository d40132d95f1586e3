"""Text classification (the book's chapter 6): a GPT whose LM head is replaced by a
num_classes linear layer read from the last real token's hidden state.

Examples are right-padded per batch with EOS and each row's last real position is kept, so
padding never reaches the head (causal attention: real tokens never see the pads after
them). Texts longer than max_length keep their first max_length tokens, as the book
truncates. Accuracy is measured on the whole train, val and test splits every epoch.
"""

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from cc2gpt.model import GPT, GPTConfig
from cc2gpt.model.lora import apply_lora
from cc2gpt.tokenizer import Tokenizer

from ..checkpoint import load_latest
from ..run import run_tokenizer_path
from .data import balance, grouped_split, read_labelled
from .loop import (FinetuneConfig, Task, choose_trainable, load_base, main_process, param_counts,
                   run_epochs)


class Classifier(nn.Module):
    """A GPT without its LM head, and a linear head on the last real token's hidden state."""

    def __init__(self, gpt: GPT, num_classes: int):
        super().__init__()
        gpt.lm_head = nn.Identity()  # unused; the token embedding stays (tied or not)
        self.gpt = gpt
        self.head = nn.Linear(gpt.config.n_embd, num_classes)

    def logits(self, idx, last):
        """Class logits (B, num_classes) of rows idx (B, T) whose last real token is at `last`."""
        h = self.gpt.features(idx)
        return self.head(h[torch.arange(idx.shape[0], device=idx.device), last])

    def forward(self, idx, last, labels):
        return F.cross_entropy(self.logits(idx, last).float(), labels)


def max_length(cfg: FinetuneConfig, gpt: GPT) -> int:
    return min(cfg.max_length or gpt.config.block_size, gpt.config.block_size)


class ClassifyTask(Task):
    def __init__(self, cfg: FinetuneConfig):
        gpt, self.tokenizer = load_base(cfg)
        rows = read_labelled(cfg.data, cfg.labels or None)
        cfg.labels = cfg.labels or sorted({r.label for r in rows})
        if len(cfg.labels) < 2:
            raise ValueError(f"{cfg.data}: one label ({cfg.labels[0]!r}); classification needs two or more")
        if cfg.balance:
            rows = balance(rows, cfg.seed)
        self.splits = dict(zip(("train", "val", "test"),
                               grouped_split(rows, lambda r: r.text, cfg.split, cfg.seed)))
        max_len, index = max_length(cfg, gpt), {label: i for i, label in enumerate(cfg.labels)}
        self.data = {name: [(ids[:max_len], index[r.label]) for r, ids in
                            zip(part, self.tokenizer.encode_batch([r.text for r in part]))]
                     for name, part in self.splits.items()}
        self.train = self.data["train"]
        self.module = Classifier(gpt, len(cfg.labels))
        choose_trainable(self.module, gpt, cfg, self.module.head)
        self.eval_batch = 4 * cfg.batch_size

    def batch(self, examples, device) -> dict:
        return collate(examples, self.tokenizer.eos_id, device)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Accuracy on each split, and the val loss."""
        model = self.module
        was_training, device = model.training, next(model.parameters()).device
        model.eval()
        out = {"accuracy": {}}
        for name, examples in self.data.items():
            correct, loss = 0, 0.0
            for i in range(0, len(examples), self.eval_batch):
                b = collate(examples[i:i + self.eval_batch], self.tokenizer.eos_id, device)
                logits = model.logits(b["idx"], b["last"]).float()
                correct += (logits.argmax(-1) == b["labels"]).sum().item()
                loss += F.cross_entropy(logits, b["labels"], reduction="sum").item()
            out["accuracy"][name] = correct / max(len(examples), 1)
            if name == "val":
                out["val_loss"] = loss / max(len(examples), 1)
        model.train(was_training)
        return out


def collate(examples, pad_id: int, device) -> dict:
    """idx (B, T) right-padded with pad_id, last (B,) real positions, labels (B,)."""
    T = max(len(ids) for ids, _ in examples)
    idx = torch.full((len(examples), T), pad_id, dtype=torch.long)
    for row, (ids, _) in enumerate(examples):
        idx[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    last = torch.tensor([len(ids) - 1 for ids, _ in examples])
    labels = torch.tensor([label for _, label in examples])
    return {"idx": idx.to(device), "last": last.to(device), "labels": labels.to(device)}


def finetune_classify(cfg: FinetuneConfig, run_dir, resume: bool = False) -> dict:
    """Fine-tune cfg.base on cfg.data; writes RUN2 (checkpoints, metrics.jsonl,
    metrics.json, config.json, the tokenizer) and returns metrics.json's content."""
    t0 = time.perf_counter()
    task = ClassifyTask(cfg)
    trainable, total = param_counts(task.module)
    sizes = {name: len(v) for name, v in task.data.items()}
    print(f"classify: labels {cfg.labels}; examples {sizes}; trainable {cfg.trainable}: "
          f"{trainable:,} of {total:,} parameters ({100 * trainable / total:.2f}%)", file=sys.stderr)

    def report(epoch, r):
        acc = " ".join(f"{k} {100 * v:.2f}%" for k, v in r["accuracy"].items())
        print(f"epoch {epoch}: accuracy {acc}; val loss {r['val_loss']:.4f}", file=sys.stderr)

    history = run_epochs(task, cfg, run_dir, resume, report)
    metrics = {"accuracy": history[-1]["accuracy"], "trainable_params": trainable,
               "total_params": total, "trainable": cfg.trainable, "labels": cfg.labels,
               "examples": sizes, "epochs": history, "seconds": time.perf_counter() - t0}
    if main_process():
        (Path(run_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def load_classifier(run_dir) -> tuple[Classifier, Tokenizer, FinetuneConfig]:
    """The classifier of RUN2's newest checkpoint (eval mode, CPU), its tokenizer and config."""
    found = load_latest(run_dir)
    if found is None:
        raise ValueError(f"{run_dir}: no usable checkpoint in {Path(run_dir) / 'checkpoints'}")
    path, ckpt = found
    cfg = FinetuneConfig.from_dict(ckpt["config"])
    if cfg.task != "classify":
        raise ValueError(f"{path}: a {cfg.task} run, not a classifier")
    tokenizer = Tokenizer.from_file(run_tokenizer_path(run_dir))
    if tokenizer.sha256 != ckpt["tokenizer_sha256"]:
        raise ValueError(f"{run_dir}: its tokenizer differs from the one {path} was trained with")
    gpt = GPT(GPTConfig(**cfg.model))
    if cfg.lora:
        apply_lora(gpt, cfg.lora["rank"], cfg.lora["alpha"], cfg.lora["targets"])
    model = Classifier(gpt, len(cfg.labels))
    model.load_state_dict(ckpt["model"])
    return model.eval(), tokenizer, cfg


@torch.no_grad()
def classify(model: Classifier, tokenizer: Tokenizer, cfg: FinetuneConfig, text: str) -> tuple[str, float]:
    """(label, its probability) for one text."""
    ids = tokenizer.encode(text)[:max_length(cfg, model.gpt)]
    if not ids:
        raise ValueError("--text is empty")
    b = collate([(ids, 0)], tokenizer.eos_id, "cpu")
    probs = model.logits(b["idx"], b["last"]).float().softmax(-1)[0]
    best = int(probs.argmax())
    return cfg.labels[best], probs[best].item()
