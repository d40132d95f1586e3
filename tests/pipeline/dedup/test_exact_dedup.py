"""Exact dedup: normalized-text groups keep their smallest id, the rest are rejected."""
from collections import Counter

import pytest
from dedup_testlib import make_doc, run_dedup

from pipeline.dedup import DedupConfig
from pipeline.dedup.normalize import normalize, shingles, text_hash


def test_normalize_folds_case_punctuation_digits_unicode_whitespace():
    assert normalize("Hello,  World!\n Call 555-1234 ＡＢＣ_x $5 ٣") == "hello world call 0000000 abcx 0 0"
    assert text_hash("The cat sat. 1999") == text_hash("the  CAT sat 2024")
    assert text_hash("the cat sat") != text_hash("the cat sat down")


def test_shingles_are_distinct_word_ngrams():
    assert sorted(shingles("a b c a b c", 3)) == [b"a b c", b"b c a", b"c a b"]
    assert shingles("Too short.", 5) == [b"too short"]
    assert shingles(" ,. ", 5) == []


@pytest.fixture(scope="module")
def exact_run():
    docs = [make_doc("d3", "Hello world, again."), make_doc("d1", "hello WORLD again"),
            make_doc("d2", "Something else entirely."), make_doc("d0", "HELLO world again!!")]
    # a page crawled 1500 times, one copy read twice (same id)
    docs += [make_doc(f"p{i:04d}", "the same page " * 20) for i in range(1500)]
    docs += [make_doc("p0000", "the same page " * 20)]
    kept, rejected, _ = run_dedup(docs, DedupConfig(fuzzy=False))
    return {d.id: d for d in kept}, rejected


def test_exact_groups_keep_smallest_id(exact_run):
    kept, rejected = exact_run
    assert {i: d.dup_cluster_size for i, d in kept.items()} == {"d0": 3, "d2": 1, "p0000": 1501}
    small = {d.id: d for d in rejected if d.id.startswith("d")}
    assert {i: (d.stage, d.reason, d.duplicate_of) for i, d in small.items()} == {
        "d1": ("dedup", "exact_duplicate", "d0"), "d3": ("dedup", "exact_duplicate", "d0")}
    assert small["d3"].text == "Hello world, again."   # the document itself, untouched


def test_big_exact_group_and_repeated_id(exact_run):
    _, rejected = exact_run
    big = [d for d in rejected if d.id.startswith("p")]
    assert len(big) == 1500 and Counter(d.duplicate_of for d in big) == {"p0000": 1500}
    assert sorted(d.id for d in big)[:2] == ["p0000", "p0001"]   # the second read of p0000 is dropped
