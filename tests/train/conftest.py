"""Fixture data for the trainer: token shards made directly with the tokenizer package
from real text in ../shared/data/lm_corpus (the Beam job's path is the lead's test)."""

import json
from pathlib import Path

import pytest
import torch

from tokenizer import Tokenizer, train_tokenizer
from tokenizer.manifest import build_manifest, write_manifest
from tokenizer.shards import split_of, write_shard

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


def make_out(out: Path, texts: list[str], vocab_size: int, val_fraction: float = 0.1,
             shards_per_split: int = 2) -> Tokenizer:
    """A curation-style OUT/ folder: tokenizer, train/val Arrow shards, manifest."""
    proto = train_tokenizer(texts, vocab_size=vocab_size)
    tok = Tokenizer(proto)
    (out / "tokenizer").mkdir(parents=True)
    (out / "tokenizer/tokenizer.model").write_bytes(proto)
    docs = {"train": [], "val": []}
    for i, text in enumerate(texts):
        doc_id = f"doc-{i}"
        docs[split_of(doc_id, val_fraction)].append((doc_id, tok.encode(text) + [tok.eos_id]))
    files = []
    for split, items in docs.items():
        (out / "tokens" / split).mkdir(parents=True)
        for k in range(shards_per_split):
            part = items[k::shards_per_split]
            path = f"tokens/{split}/{k:05d}.arrow"
            info = write_shard(out / path, [i for i, _ in part], [t for _, t in part], tok.dtype,
                               eos_id=tok.eos_id)
            files.append({"split": split, "path": path, **info})
    write_manifest(out, build_manifest(
        tokenizer=tok, tokenizer_path="tokenizer/tokenizer.model", shards=files,
        funnel={"records": len(texts), "kept": len(texts)}, config={"fixture": True}))
    return tok


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
