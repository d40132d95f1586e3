"""Exact dedup: normalized-text groups keep their smallest id, the rest are rejected."""
from collections import Counter

from pipeline.dedup import DedupConfig
from pipeline.dedup.normalize import normalize, shingles, text_hash

EXACT_ONLY = DedupConfig(fuzzy=False)


def test_normalize_folds_case_punctuation_digits_unicode_whitespace():
    assert normalize("Hello,  World!\n Call 555-1234 ＡＢＣ_x") == "hello world call 0000000 abcx"
    assert text_hash("The cat sat. 1999") == text_hash("the  CAT sat 2024")
    assert text_hash("the cat sat") != text_hash("the cat sat down")


def test_shingles_are_distinct_word_ngrams():
    assert sorted(shingles("a b c a b c", 3)) == [b"a b c", b"b c a", b"c a b"]
    assert shingles("Too short.", 5) == [b"too short"]
    assert shingles(" ,. ", 5) == []


def test_exact_groups_keep_smallest_id(dedup, doc):
    docs = [doc("d3", "Hello world, again."), doc("d1", "hello WORLD again"),
            doc("d2", "Something else entirely."), doc("d0", "HELLO world again!!")]
    kept, rejected, _ = dedup(docs, EXACT_ONLY)
    assert {d["id"]: d["dup_cluster_size"] for d in kept} == {"d0": 3, "d2": 1}
    assert {d["id"]: (d["stage"], d["reason"], d["duplicate_of"]) for d in rejected} == {
        "d1": ("dedup", "exact_duplicate", "d0"), "d3": ("dedup", "exact_duplicate", "d0")}
    assert rejected[0]["text"] in {"Hello world, again.", "hello WORLD again"}  # the doc itself, untouched


def test_big_exact_group_and_repeated_id(dedup, doc):
    docs = [doc(f"p{i:04d}", "the same page " * 20) for i in range(2000)] + [doc("p0000", "the same page " * 20)]
    kept, rejected, _ = dedup(docs, EXACT_ONLY)
    assert [(d["id"], d["dup_cluster_size"]) for d in kept] == [("p0000", 2001)]
    assert len(rejected) == 2000 and Counter(d["duplicate_of"] for d in rejected) == {"p0000": 2000}
