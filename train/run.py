"""A run folder read back, and the commands that use one: the model at its newest
checkpoint with the tokenizer it was trained with, `cc2gpt generate` (sample text from it)
and `cc2gpt export-hf` (write it as a Hugging Face transformers folder). The model code
(model/) does the sampling and the weight mapping; reading RUN/ is the trainer's side.

    cc2gpt generate --checkpoint RUN --prompt TEXT [--max-new-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--seed S]
    cc2gpt generate --checkpoint RUN2 --instruction TEXT [--input TEXT] [...]
    cc2gpt export-hf RUN HF_DIR

--temperature 0 is greedy decoding; --seed makes sampling repeat exactly. --instruction
wraps the instruction (and input) in the prompt template RUN2 was fine-tuned with (Alpaca
for other runs) and prints the response alone. A run is pretrained, imported (import-hf,
its tokenizer a tokenizer.json) or fine-tuned (its LoRA adapters merged for export).
"""

import argparse
import sys
from pathlib import Path

import torch

from cc2gpt.model import GPT, GPTConfig, export_hf, generate
from cc2gpt.model.lora import apply_lora, merge_lora
from cc2gpt.tokenizer import Tokenizer

from .checkpoint import load_latest

TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json")  # a sentencepiece model, a HF one


def run_tokenizer_path(run_dir) -> Path:
    """RUN's copy of its tokenizer: tokenizer.model (sentencepiece) or tokenizer.json."""
    for name in TOKENIZER_FILES:
        if (Path(run_dir) / name).exists():
            return Path(run_dir) / name
    raise ValueError(f"{run_dir}: no {' or '.join(TOKENIZER_FILES)} (every run folder has its "
                     "tokenizer)")


def load_run(run_dir) -> tuple[GPT, Tokenizer, dict]:
    """(model in eval mode on CPU, tokenizer, checkpoint metadata) of RUN's newest good
    checkpoint: a pretrained, imported or instruction-tuned run (with its LoRA adapters,
    unmerged). The vocabulary padding added for speed is cut off, so padded ids can never
    be sampled or exported."""
    run_dir = Path(run_dir)
    found = load_latest(run_dir, keys={"model"})  # a DCP checkpoint's optimizer is not read
    if found is None:
        raise ValueError(f"{run_dir}: no usable checkpoint in {run_dir / 'checkpoints'}")
    path, ckpt = found
    tok_path = run_tokenizer_path(run_dir)
    tokenizer = Tokenizer.from_file(tok_path)
    if tokenizer.sha256 != ckpt["tokenizer_sha256"]:
        raise ValueError(f"{tok_path}: sha256 {tokenizer.sha256} differs from the one "
                         f"{path} was trained with ({ckpt['tokenizer_sha256']})")
    if ckpt["config"].get("task") == "classify":
        raise ValueError(f"{path}: a classifier (cc2gpt classify takes it), not a language model")
    saved = ckpt["config"]["model"]  # vocab_size padded to vocab_multiple
    config = GPTConfig(**{**saved, "vocab_size": tokenizer.vocab_size})
    state = dict(ckpt["model"])
    for name in ("transformer.wte.weight", "lm_head.weight"):
        if name in state:
            state[name] = state[name][:tokenizer.vocab_size]
    model = GPT(config)
    lora = ckpt["config"].get("lora")  # a fine-tuned run's unmerged adapters
    if lora:
        apply_lora(model, lora["rank"], lora["alpha"], lora["targets"])
    model.load_state_dict(state)
    model.eval()
    meta = {"checkpoint": str(path), "step": ckpt["step"], "padded_vocab_size": saved["vocab_size"],
            "config": ckpt["config"]}
    return model, tokenizer, meta


class Streamer:
    """Prints the decoded continuation as tokens arrive. Decoding the whole continuation
    each time (not token by token) keeps spaces and multi-byte characters intact; text
    ending in an incomplete character (U+FFFD) waits for the next token."""

    def __init__(self, tokenizer, out=None):
        self.tokenizer, self.out = tokenizer, out or sys.stdout
        self.ids, self.printed = [], ""

    def __call__(self, row: int, token: int):
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if not text.endswith("\ufffd") and text.startswith(self.printed):
            self.out.write(text[len(self.printed):])
            self.out.flush()
            self.printed = text

    def finish(self) -> str:
        text = self.tokenizer.decode(self.ids)
        if text.startswith(self.printed):
            self.out.write(text[len(self.printed):])
        self.out.write("\n")
        self.out.flush()
        return text


def generate_main(argv=None) -> int:
    """`cc2gpt generate`: sample from RUN's newest good checkpoint, streamed to stdout."""
    p = argparse.ArgumentParser(prog="cc2gpt generate", description=generate_main.__doc__)
    p.add_argument("--checkpoint", required=True, metavar="RUN",
                   help="run folder (its newest good checkpoint is used)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--prompt")
    what.add_argument("--instruction", help="an instruction for an instruction-tuned run")
    p.add_argument("--input", default="", help="the instruction's input (with --instruction)")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        model, tokenizer, meta = load_run(args.checkpoint)
        text = args.prompt
        if args.instruction is not None:
            from .finetune.instruct import prompt_text

            text = prompt_text(meta["config"].get("template", "alpaca"), args.instruction, args.input)
        prompt = tokenizer.encode(text)
        if not prompt:
            raise ValueError("--prompt must not be empty")
        if args.instruction is None:
            sys.stdout.write(args.prompt)
        streamer = Streamer(tokenizer)
        with torch.inference_mode():
            generate(model, [prompt], args.max_new_tokens, temperature=args.temperature,
                     top_k=args.top_k, top_p=args.top_p, eos_id=tokenizer.eos_id,
                     seed=args.seed, on_token=streamer)
        streamer.finish()
    except ValueError as e:
        print(f"cc2gpt generate: error: {e}", file=sys.stderr)
        return 1
    return 0


def export_main(argv=None) -> int:
    """`cc2gpt export-hf RUN HF_DIR`: a folder transformers' AutoModelForCausalLM (and
    AutoTokenizer) loads, from RUN's newest good checkpoint and its tokenizer."""
    p = argparse.ArgumentParser(prog="cc2gpt export-hf", description=export_main.__doc__)
    p.add_argument("run", metavar="RUN")
    p.add_argument("hf_dir", metavar="HF_DIR")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        model, tokenizer, meta = load_run(args.run)
        merge_lora(model)  # a fine-tuned run's adapters, folded into its weights
        export_hf(model, args.hf_dir, run_tokenizer_path(args.run), tokenizer.eos_id)
    except (ValueError, RuntimeError) as e:
        print(f"cc2gpt export-hf: error: {e}", file=sys.stderr)
        return 1
    print(f"exported {meta['checkpoint']} (step {meta['step']}) to {args.hf_dir}", file=sys.stderr)
    return 0
