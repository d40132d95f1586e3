"""Dedup against a previous run: its kept documents' signatures, saved as Parquet under OUT/dedup/."""
import random

import pyarrow.parquet as pq
import pytest
from dedup_testlib import DATA, jaccard, make_doc, read_text, run_dedup, run_pipeline

from pipeline.dedup import DedupConfig
from pipeline.dedup.minhash import MinHasher
from pipeline.dedup.store import ReadSignatures

CONFIG = DedupConfig(cc_rounds=4)


def windows(n: int, words: int = 120) -> list[str]:
    corpus = read_text(DATA / "lm_corpus/gutenberg/chesterton-brown.txt").split()
    stride = len(corpus) // n
    return [" ".join(corpus[k * stride:k * stride + words]) for k in range(n)]


def mutate(text: str, rng: random.Random) -> str:
    """One word replaced: Jaccard ~0.92, which LSH misses with probability < 1e-4."""
    words = text.split()
    words[rng.randrange(10, len(words) - 10)] = "zzz"
    return " ".join(words)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    rng = random.Random(5)
    texts = windows(60)
    first = [make_doc(f"old/{k:02d}", t) for k, t in enumerate(texts[:40])]
    first.append(make_doc("old/99", texts[0]))   # an exact duplicate: not kept, so not saved
    out = tmp_path_factory.mktemp("prev")
    kept1, _, _ = run_dedup(first, CONFIG, out=str(out))

    # New crawl: near copies of old docs (ids sorting before them), their exact copies,
    # unseen docs, and a near-duplicate pair among the unseen ones.
    second = [make_doc(f"new/{k:02d}", mutate(texts[k], rng)) for k in range(10)]
    second.append(make_doc("new/05x", second[5].text.upper()))
    second += [make_doc(f"new/{k:02d}", texts[k]) for k in range(40, 60)]
    second.append(make_doc("new/99", mutate(texts[59], rng)))
    kept2, rejected2, _ = run_dedup(second, DedupConfig(cc_rounds=4, against=str(out)))
    return out, first, kept1, second, {d.id: d for d in kept2}, {d.id: d for d in rejected2}


def test_kept_signatures_are_saved_as_parquet(runs):
    out, _, kept1, *_ = runs
    files = sorted((out / "dedup").glob("signatures*.parquet"))
    table = pq.read_table(files[0]) if len(files) == 1 else None
    assert table is not None and sorted(table.column("id").to_pylist()) == sorted(d.id for d in kept1)
    assert {len(s) for s in table.column("signature").to_pylist()} == {4 * CONFIG.num_perm}
    assert len(set(table.column("sketch").to_pylist())) == 1


def test_near_copies_of_previous_docs_are_dropped(runs):
    _, first, _, second, kept2, rejected2 = runs
    old = {d.id: d.text for d in first}
    for k in range(10):
        doc = rejected2[f"new/{k:02d}"]
        assert (doc.reason, doc.duplicate_of) == ("near_duplicate", f"old/{k:02d}")
        assert jaccard(doc.text, old[doc.duplicate_of]) >= CONFIG.threshold
    # its exact copy points at the previous run's doc too, not at a doc dropped in this run
    assert (rejected2["new/05x"].reason, rejected2["new/05x"].duplicate_of) == ("exact_duplicate", "old/05")


def test_unseen_docs_are_kept_and_deduplicated_among_themselves(runs):
    *_, second, kept2, rejected2 = runs
    assert set(kept2) == {f"new/{k:02d}" for k in range(40, 60)}
    assert kept2["new/59"].dup_cluster_size == 2
    assert rejected2["new/99"].duplicate_of == "new/59"
    assert len(kept2) + len(rejected2) == len(second)


def test_signatures_made_differently_are_refused(runs):
    out = runs[0]
    sketch = MinHasher(CONFIG.num_perm, CONFIG.ngram, seed=2, bands=14, rows=8).sketch
    with pytest.raises(Exception, match="cannot be compared"):
        run_pipeline(lambda p: {"signatures": p | ReadSignatures(str(out), sketch)})
    with pytest.raises(FileNotFoundError, match="no saved signatures"):
        run_dedup([make_doc("x", "some text")], DedupConfig(against=str(out / "missing")))
    with pytest.raises(ValueError, match="needs fuzzy dedup"):
        run_dedup([make_doc("x", "some text")], DedupConfig(fuzzy=False, against=str(out)))
