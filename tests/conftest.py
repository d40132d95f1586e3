"""Fixtures shared across the test folders."""

from pathlib import Path

import pytest

GPT2_TOKENIZER = Path(__file__).resolve().parents[1] / "../shared/data/finetune/gpt2_tokenizer"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
WARCS = str(SHARED / "warc" / "*.warc.gz")


@pytest.fixture(scope="session")
def curated_out(tmp_path_factory) -> Path:
    """One curation run of every shared WARC file (default filters and dedup), made once per
    session for every test that needs a real OUT/: kept documents, rejects of every stage,
    tokenizer, shards and manifest."""
    import cc2gpt

    out = tmp_path_factory.mktemp("curated") / "out"
    assert cc2gpt.main(["curate", "--input", WARCS, "--output", str(out),
                        "--vocab-size", "1024", "--val-fraction", "0.1",
                        "--shard-tokens", "40000"]) == 0
    return out


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
