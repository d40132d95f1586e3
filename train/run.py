"""Reading a finished (or running) run folder back: the model at its newest checkpoint and
the tokenizer it was trained with, for generation and export."""

from pathlib import Path

from model import GPT, GPTConfig
from tokenizer import Tokenizer

from .checkpoint import load_latest


def load_run(run_dir) -> tuple[GPT, Tokenizer, dict]:
    """(model in eval mode on CPU, tokenizer, checkpoint metadata) of RUN's newest good
    checkpoint. The vocabulary padding added for speed is cut off, so padded ids can never
    be sampled or exported."""
    run_dir = Path(run_dir)
    found = load_latest(run_dir)
    if found is None:
        raise ValueError(f"{run_dir}: no usable checkpoint in {run_dir / 'checkpoints'}")
    path, ckpt = found
    tok_path = run_dir / "tokenizer.model"
    if not tok_path.exists():
        raise ValueError(f"{tok_path}: missing (every run folder has its tokenizer)")
    tokenizer = Tokenizer.from_file(tok_path)
    if tokenizer.sha256 != ckpt["tokenizer_sha256"]:
        raise ValueError(f"{tok_path}: sha256 {tokenizer.sha256} differs from the one "
                         f"{path} was trained with ({ckpt['tokenizer_sha256']})")
    saved = ckpt["config"]["model"]  # vocab_size padded to vocab_multiple
    config = GPTConfig(**{**saved, "vocab_size": tokenizer.vocab_size})
    state = dict(ckpt["model"])
    for name in ("transformer.wte.weight", "lm_head.weight"):
        if name in state:
            state[name] = state[name][:tokenizer.vocab_size]
    model = GPT(config)
    model.load_state_dict(state)
    model.eval()
    meta = {"checkpoint": str(path), "step": ckpt["step"], "padded_vocab_size": saved["vocab_size"]}
    return model, tokenizer, meta
