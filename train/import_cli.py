"""`cc2gpt import-hf HF_DIR RUN`: a transformers GPT-2, Llama or Qwen3 folder becomes a RUN
that `generate`, `export-hf`, `finetune` and continued pretraining (`train --resume`) take.

RUN gets config.json (the trainer's config with the imported architecture), tokenizer.json
(the folder's own, or converted from its slow-tokenizer files by transformers) and one
checkpoint, step 0, without optimizer state. The embedding (and an untied head) is cut or
zero-padded to the tokenizer's vocabulary rounded up to vocab_multiple, the shape the
trainer builds for that tokenizer.
"""

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from cc2gpt.model import import_hf
from cc2gpt.tokenizer import Tokenizer

from .checkpoint import list_checkpoints, save_checkpoint
from .config import TrainConfig


def hf_tokenizer_json(hf_dir: Path) -> bytes:
    """The folder's tokenizer.json, or the one transformers builds from its other files."""
    path = hf_dir / "tokenizer.json"
    if path.exists():
        return path.read_bytes()
    from transformers import AutoTokenizer

    try:
        fast = AutoTokenizer.from_pretrained(hf_dir)
        return fast.backend_tokenizer.to_str().encode("utf-8")
    except Exception as e:  # noqa: BLE001 -- whatever transformers raises, name the folder
        raise ValueError(f"{hf_dir}: no tokenizer.json, and transformers builds none: {e}") from e


def resize_vocab(state: dict, rows: int) -> dict:
    """Embedding and head cut or zero-padded to `rows` rows."""
    out = dict(state)
    for name in ("transformer.wte.weight", "lm_head.weight"):
        old = state[name]
        new = old.new_zeros(rows, old.shape[1])
        n = min(rows, old.shape[0])
        new[:n] = old[:n]
        out[name] = new
    return out


def import_run(hf_dir, run_dir) -> dict:
    """Write RUN from HF_DIR; returns {architecture, params, vocab_size, eos_id}."""
    hf_dir, run_dir = Path(hf_dir), Path(run_dir)
    if list_checkpoints(run_dir):
        raise ValueError(f"{run_dir} already has checkpoints; choose an empty RUN folder")
    model, info = import_hf(hf_dir)
    tok_bytes = hf_tokenizer_json(hf_dir)
    tokenizer = Tokenizer(tok_bytes)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"{hf_dir}: the tokenizer has {tokenizer.vocab_size} ids but the "
                         f"embedding only {model.config.vocab_size} rows")
    cfg = TrainConfig(model_preset="gpt2-124m", model=asdict(model.config))
    padded = cfg.model_config(tokenizer.vocab_size)
    cfg.model = asdict(padded)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / tokenizer.filename).write_bytes(tok_bytes)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    save_checkpoint(run_dir, 0, {
        "step": 0, "config": cfg.to_dict(),
        "model": resize_vocab(model.state_dict(), padded.vocab_size),
        "optimizer": None, "scaler": None, "data_position": 0, "rng": torch.get_rng_state(),
        "elapsed": 0.0, "tokenizer_sha256": tokenizer.sha256, "vocab_size": tokenizer.vocab_size,
        "eos_id": tokenizer.eos_id,
        "imported_from": {"path": str(hf_dir.resolve()), "architecture": info["architecture"]}},
        keep=1)
    return {"architecture": info["architecture"], "params": model.num_params(False),
            "vocab_size": tokenizer.vocab_size, "eos_id": tokenizer.eos_id}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="cc2gpt import-hf", description=__doc__.split("\n\n")[0])
    p.add_argument("hf_dir", metavar="HF_DIR", help="a folder save_pretrained wrote (config.json, "
                   "*.safetensors or pytorch_model.bin, tokenizer.json)")
    p.add_argument("run", metavar="RUN")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        info = import_run(args.hf_dir, args.run)
    except (ValueError, OSError) as e:
        print(f"cc2gpt import-hf: error: {e}", file=sys.stderr)
        return 1
    print(f"imported {info['architecture']} ({info['params']:,} parameters, vocabulary "
          f"{info['vocab_size']}, eos {info['eos_id']}) into {args.run}", file=sys.stderr)
    return 0
