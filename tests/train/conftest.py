"""Fixture data for the trainer: token shards made directly with the tokenizer package
from real text in ../shared/data/lm_corpus (tests/test_end_to_end.py covers the Beam job's path)."""

import json
from pathlib import Path

import pytest
import torch

from cc2gpt.tokenizer import train_tokenizer
from cc2gpt.tokenizer.out import write_out

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
SHAKESPEARE = DATA / "lm_corpus/tinyshakespeare/input.txt"

# A small model and batch that still learns: fast enough for several runs per test file.
SMALL = ["model.n_layer=2", "model.n_head=2", "model.n_embd=64", "model.block_size=64",
         "tokens_per_step=2048", "micro_batch_size=8", "warmup_steps=5", "lr=0.003",
         "dtype=fp32", "log_interval=1", "eval_interval=10", "eval_tokens=4096",
         "checkpoint_interval=10", "tensorboard=false"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread, and the cores are shared with other tests.
    Module scope, so module fixtures (a run that others resume) train on one thread too:
    a resumed run matches its original bit for bit only on the same number of threads
    (the fused AdamW kernel splits its work per thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_out(out: Path, texts: list[str], vocab_size: int) -> None:
    """A curation-style OUT/ folder (tokenizer, two train and two val shards, manifest), the
    tokenizer trained on every text."""
    write_out(out, train_tokenizer(texts, vocab_size=vocab_size),
              [(f"doc-{i}", text) for i, text in enumerate(texts)], 0.1, shards_per_split=2,
              config={"fixture": True})


def documents(path=SHAKESPEARE, lines_per_doc: int = 40) -> list[str]:
    """Real text cut into documents of a few dozen lines."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return ["".join(lines[i:i + lines_per_doc]) for i in range(0, len(lines), lines_per_doc)]


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory) -> Path:
    """OUT/ from tiny-shakespeare with a 512-token vocabulary."""
    out = tmp_path_factory.mktemp("out")
    make_out(out, documents(), vocab_size=512)
    return out


@pytest.fixture(scope="session")
def other_out_dir(tmp_path_factory, out_dir) -> Path:
    """The same shards with a different tokenizer file and checksum."""
    out = tmp_path_factory.mktemp("other_out")
    make_out(out, documents()[:200], vocab_size=400)
    return out


def read_metrics(run: Path) -> list[dict]:
    """RUN/metrics.jsonl's records, in order."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
