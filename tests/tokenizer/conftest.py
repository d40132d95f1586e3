"""Shared fixtures: a small BPE model trained once on real English text."""
from pathlib import Path

import pytest

from cc2gpt.tokenizer import Tokenizer, train_tokenizer

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
SHAKESPEARE = DATA / "lm_corpus/tinyshakespeare/input.txt"


def paragraphs(path=SHAKESPEARE) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [p for p in text.split("\n\n") if p.strip()]


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return paragraphs()


@pytest.fixture(scope="session")
def model_bytes(corpus) -> bytes:
    return train_tokenizer(corpus, vocab_size=512)


@pytest.fixture(scope="session")
def tok(model_bytes) -> Tokenizer:
    return Tokenizer(model_bytes)
