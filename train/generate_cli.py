"""`cc2gpt generate`: sample text from a run's newest checkpoint, streamed to the terminal.

    cc2gpt generate --checkpoint RUN --prompt TEXT [--max-new-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--seed S]

--temperature 0 is greedy decoding; --seed makes sampling repeat exactly.
"""

import argparse
import sys

import torch

from model import generate

from .run import load_run


def parse_args(argv):
    p = argparse.ArgumentParser(prog="cc2gpt generate", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, metavar="RUN", help="run folder (its newest good checkpoint is used)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    return p.parse_args(argv)


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


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        model, tokenizer, _ = load_run(args.checkpoint)
        prompt = tokenizer.encode(args.prompt)
        if not prompt:
            raise ValueError("--prompt must not be empty")
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
