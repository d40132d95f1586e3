"""Fixtures shared across the test folders."""

from pathlib import Path

import pytest

GPT2_TOKENIZER = Path(__file__).resolve().parents[1] / "../shared/data/finetune/gpt2_tokenizer"


@pytest.fixture(scope="session")
def gpt2_tokenizer_json(tmp_path_factory) -> Path:
    """OpenAI's GPT-2 tokenizer (the shared encoder.json and vocab.bpe) as the tokenizer.json
    a Hugging Face GPT-2 folder holds, written by transformers."""
    transformers = pytest.importorskip("transformers")
    tok = transformers.GPT2Tokenizer(vocab=str(GPT2_TOKENIZER / "encoder.json"),
                                     merges=str(GPT2_TOKENIZER / "vocab.bpe"))
    folder = tmp_path_factory.mktemp("gpt2_tokenizer")
    tok.save_pretrained(folder)
    return folder / "tokenizer.json"
