"""cc2gpt: raw Common Crawl WARC files in, a pretrained GPT out.

Installed, the repository's top-level folders are this package's subpackages
(`cc2gpt.pipeline`, `cc2gpt.tokenizer`, `cc2gpt.model`, `cc2gpt.train`), so the
wheel claims no generic top-level names; `cc2gpt.cli` is the `cc2gpt` command.
"""
from cc2gpt.cli import main

__all__ = ["main"]
