"""`cc2gpt export-hf RUN HF_DIR`: a folder transformers' AutoModelForCausalLM (and
AutoTokenizer) loads, from RUN's newest good checkpoint and its tokenizer."""

import argparse
import sys
from pathlib import Path

from model import export_hf

from .run import load_run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="cc2gpt export-hf", description=__doc__)
    p.add_argument("run", metavar="RUN")
    p.add_argument("hf_dir", metavar="HF_DIR")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        model, tokenizer, meta = load_run(args.run)
        export_hf(model, args.hf_dir, Path(args.run) / "tokenizer.model", tokenizer.eos_id)
    except (ValueError, RuntimeError) as e:
        print(f"cc2gpt export-hf: error: {e}", file=sys.stderr)
        return 1
    print(f"exported {meta['checkpoint']} (step {meta['step']}) to {args.hf_dir}", file=sys.stderr)
    return 0
