"""The `cc2gpt` command: a thin dispatcher that imports each subcommand lazily.

`cc2gpt curate` and `python -m pipeline` are the same program, as are
`cc2gpt train` and `python -m train`; importing lazily keeps `cc2gpt inspect`
free of torch and `cc2gpt train` free of Beam.
"""
import contextlib
import importlib
import logging
import sys

# subcommand -> (module, function taking argv, one-line help)
COMMANDS = {
    "curate": ("cc2gpt.pipeline.cli", "curate_main", "run the Beam curation job: WARC files to OUT/"),
    "inspect": ("cc2gpt.pipeline.inspect", "main", "funnel, filter reasons, samples and shard statistics of OUT/"),
    "tokenizer": ("cc2gpt.tokenizer.cli", "main", "tokenizer tools: `cc2gpt tokenizer train ...`"),
    "train": ("cc2gpt.train.cli", "main", "pretrain a GPT on OUT/'s token shards"),
    "generate": ("cc2gpt.train.run", "generate_main", "sample text from a run's newest checkpoint"),
    "export-hf": ("cc2gpt.train.run", "export_main", "export a run as a Hugging Face transformers folder"),
    "import-hf": ("cc2gpt.train.import_cli", "main", "a transformers GPT-2 / Llama / Qwen3 folder becomes a run"),
    "finetune": ("cc2gpt.train.finetune.cli", "main", "fine-tune a run: `finetune classify ...`, `finetune instruct ...`"),
    "classify": ("cc2gpt.train.finetune.cli", "classify_main", "label a text with a fine-tuned classifier"),
    "ablate": ("cc2gpt.train.ablate.cli", "main", "train one model per curation stage's data and compare"),
    "eval": ("cc2gpt.train.score", "main", "bits per byte on text and accuracy on minimal pairs of a run"),
}


def usage() -> str:
    lines = ["usage: cc2gpt COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return "\n".join(lines)


@contextlib.contextmanager
def quiet_imports():
    """Libraries that log while they import (Beam: "apitools not found ...") print nothing:
    with a handler on the root logger, Python's logging adds no stderr handler of its own."""
    root, handler = logging.getLogger(), logging.NullHandler()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cc2gpt: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    with quiet_imports():
        command = getattr(importlib.import_module(module), func)
    result = command(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
