"""Instruction fine-tuning (the book's chapter 7): prompt templates, per-batch padding,
response-token losses and greedy test responses.

An example is the template's prompt followed by the reference output and one EOS, which
the model learns to emit to end its answer. Batches are padded per batch with EOS; padded
targets are ignored (-1), so only the first EOS of a row is a target. --mask-prompt also
ignores the targets inside the prompt, so the loss is the response's alone. Whatever the
training loss, evaluation reports the mean loss over response tokens (the output and its
EOS), before training and after every epoch.
"""

import json
import sys
import time
from pathlib import Path

import torch

from cc2gpt.model import generate

from .data import ordered_split, read_instructions
from .loop import (FinetuneConfig, Task, choose_trainable, load_base, main_process, param_counts,
                   run_epochs)

ALPACA_PREAMBLE = ("Below is an instruction that describes a task. Write a response that "
                   "appropriately completes the request.")


def alpaca(instruction: str, input: str) -> str:
    """Alpaca's prompt, the book's default: the input section only when there is one."""
    text = f"{ALPACA_PREAMBLE}\n\n### Instruction:\n{instruction}"
    if input:
        text += f"\n\n### Input:\n{input}"
    return text + "\n\n### Response:\n"


def phi3(instruction: str, input: str) -> str:
    """Phi-3's chat layout (the book's exercise 7.1): shorter prompts, so faster training."""
    text = f"<|user|>\n{instruction}"
    if input:
        text += f"\n{input}"
    return text + "\n\n<|assistant|>\n"


TEMPLATES = {"alpaca": alpaca, "phi3": phi3}


def prompt_text(template: str, instruction: str, input: str = "") -> str:
    if template not in TEMPLATES:
        raise ValueError(f"template {template!r}: expected one of {sorted(TEMPLATES)}")
    return TEMPLATES[template](instruction, input)


def collate(examples, eos_id: int, mask_prompt: bool, device) -> dict:
    """idx and targets (B, T) from (prompt ids, response ids ending with EOS) pairs: each
    sequence shifted by one, padded with EOS, padded targets -1; mask_prompt also sets the
    targets that predict prompt tokens to -1."""
    T = max(len(p) + len(r) for p, r in examples) - 1
    idx = torch.full((len(examples), T), eos_id, dtype=torch.long)
    targets = torch.full((len(examples), T), -1, dtype=torch.long)
    for row, (p, r) in enumerate(examples):
        seq = torch.tensor(p + r, dtype=torch.long)
        idx[row, :len(seq) - 1], targets[row, :len(seq) - 1] = seq[:-1], seq[1:]
        if mask_prompt:
            targets[row, :len(p) - 1] = -1
    return {"idx": idx.to(device), "targets": targets.to(device)}


class InstructTask(Task):
    def __init__(self, cfg: FinetuneConfig):
        gpt, self.tokenizer = load_base(cfg)
        prompt_text(cfg.template, "")  # an unknown template fails before any work
        entries = read_instructions(cfg.data)
        self.splits = dict(zip(("train", "val", "test"), ordered_split(entries, cfg.split)))
        limit = min(cfg.max_length or gpt.config.block_size, gpt.config.block_size) + 1
        self.truncated = 0
        self.data = {name: [self.encode(e, cfg.template, limit) for e in part]
                     for name, part in self.splits.items()}
        self.train = self.data["train"]
        self.module = gpt
        choose_trainable(gpt, gpt, cfg, None)
        self.cfg, self.eval_batch = cfg, 2 * cfg.batch_size

    def encode(self, e, template: str, limit: int) -> tuple[list[int], list[int]]:
        """(prompt ids, response ids + EOS), cut to `limit` tokens in all: the response's end
        goes first; a prompt too long for any response keeps its first limit - 1 tokens and
        the response its first token."""
        tok = self.tokenizer
        prompt = tok.encode(prompt_text(template, e.instruction, e.input))
        response = tok.encode(e.output) + [tok.eos_id]
        if len(prompt) + len(response) > limit:
            self.truncated += 1
            prompt = prompt[:limit - 1]
            response = response[:limit - len(prompt)]
        return prompt, response

    def batch(self, examples, device) -> dict:
        return collate(examples, self.tokenizer.eos_id, self.cfg.mask_prompt, device)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Mean loss (nats) over the response tokens of each split."""
        model = self.module
        was_training, device = model.training, next(model.parameters()).device
        model.eval()
        losses = {}
        for name, examples in self.data.items():
            total, count = 0.0, 0
            for i in range(0, len(examples), self.eval_batch):
                b = collate(examples[i:i + self.eval_batch], self.tokenizer.eos_id, True, device)
                n = int((b["targets"] != -1).sum())
                total += model(b["idx"], b["targets"]).item() * n
                count += n
            losses[name] = total / max(count, 1)
        model.train(was_training)
        return {"response_loss": losses}

    def responses(self, batch_size: int = 8) -> list[dict]:
        """The model's greedy response to every test instruction, next to the reference."""
        out, tok = [], self.tokenizer
        entries = self.splits["test"]
        for i in range(0, len(entries), batch_size):
            chunk = entries[i:i + batch_size]
            prompts = [tok.encode(prompt_text(self.cfg.template, e.instruction, e.input))
                       for e in chunk]
            new = generate(self.module, prompts, self.cfg.max_new_tokens, temperature=0,
                           eos_id=tok.eos_id)
            out += [{"instruction": e.instruction, "input": e.input, "output": e.output,
                     "model_response": tok.decode(ids).strip()} for e, ids in zip(chunk, new)]
        return out


def finetune_instruct(cfg: FinetuneConfig, run_dir, resume: bool = False) -> dict:
    """Fine-tune cfg.base on cfg.data; writes RUN2 (checkpoints, metrics.jsonl, metrics.json,
    test_responses.json, config.json, the tokenizer) and returns metrics.json's content."""
    t0 = time.perf_counter()
    task = InstructTask(cfg)
    trainable, total = param_counts(task.module)
    sizes = {name: len(v) for name, v in task.data.items()}
    print(f"instruct: examples {sizes} ({task.truncated} cut to the context); template "
          f"{cfg.template}; mask_prompt {cfg.mask_prompt}; trainable {cfg.trainable}: "
          f"{trainable:,} of {total:,} parameters ({100 * trainable / total:.2f}%)", file=sys.stderr)

    def report(epoch, r):
        losses = " ".join(f"{k} {v:.4f}" for k, v in r["response_loss"].items())
        print(f"epoch {epoch}: response-token loss {losses}", file=sys.stderr)

    history = run_epochs(task, cfg, run_dir, resume, report)
    metrics = {"response_loss": {"before": history[0]["response_loss"],
                                 "after": history[-1]["response_loss"]},
               "mask_prompt": cfg.mask_prompt, "template": cfg.template,
               "trainable": cfg.trainable, "trainable_params": trainable, "total_params": total,
               "examples": sizes, "truncated": task.truncated, "epochs": history}
    run_dir = Path(run_dir)
    if main_process():
        responses = task.responses()
        (run_dir / "test_responses.json").write_text(json.dumps(responses, indent=2) + "\n")
        metrics["seconds"] = time.perf_counter() - t0
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
