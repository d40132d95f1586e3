"""Our dedup DoFns hold a constant working set: Python heap peak (tracemalloc) at 1x and 8x the input.

What a worker holds at once is then bounded by the batch size and the largest
key, not by the input; the rest of a DirectRunner worker's growth is the
runner's bundle hand-over (bench/dedup_throughput.py --memory-docs shows it).
tracemalloc counts allocations, not RSS, so this is deterministic on a busy machine.
"""
import dataclasses
import tracemalloc

from dedup_testlib import DATA, make_doc, read_text

from pipeline.dedup import DedupConfig, repoint
from pipeline.dedup.exact import KeepSmallestId
from pipeline.dedup.fuzzy import Sign, Star
from pipeline.dedup.minhash import MinHasher

WORDS = read_text(DATA / "lm_corpus/gutenberg/austen-persuasion.txt").split()


class _Regenerated:
    """A grouped value Beam may stream: re-iterable, each pass makes its elements anew (none held)."""

    def __init__(self, n: int, make):
        self.n, self.make = n, make

    def __iter__(self):
        return (self.make(i) for i in range(self.n))


def _peak_bytes(run) -> int:
    """Python heap peak while `run()` drains a DoFn's outputs, above what was allocated before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in run():
            pass
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _assert_flat(small: int, large: int):
    # 8x the input; a working set that grew with it would be ~8x. Allow 1.5x + 256 kB of noise.
    assert large < 1.5 * small + 256_000, f"peak {small} B at 1x, {large} B at 8x the input"


def _window(i: int, size: int = 120) -> str:
    start = (i * 7919) % (len(WORDS) - size)
    return " ".join(WORDS[start:start + size])


def test_signature_batches_do_not_accumulate():
    cfg = DedupConfig(batch_size=64)
    sign = Sign(MinHasher(cfg.num_perm, cfg.ngram, cfg.seed, *cfg.bands_rows()))

    def stream(batches):
        def run():
            for b in range(batches):   # what BatchElements hands the DoFn: at most batch_size docs
                batch = [make_doc(f"{b}/{i}", _window(b * cfg.batch_size + i)) for i in range(cfg.batch_size)]
                for doc_id, sig in sign.process(batch):
                    yield sign.hasher.band_keys(sig)
        return run

    _assert_flat(_peak_bytes(stream(2)), _peak_bytes(stream(16)))


def test_a_big_exact_group_is_streamed_not_held():
    text = _window(0)

    def group(size):
        docs = _Regenerated(size, lambda i: make_doc(f"p{size - i:07d}", text))   # smallest id comes last
        return lambda: KeepSmallestId().process(("hash", docs))

    _assert_flat(_peak_bytes(group(1_000)), _peak_bytes(group(8_000)))


def test_a_big_lsh_bucket_is_streamed_not_held():
    def bucket(size):
        ids = _Regenerated(size, lambda i: f"doc/{size - i:07d}")
        return lambda: Star().process(((0, b"band"), ids))

    _assert_flat(_peak_bytes(bucket(5_000)), _peak_bytes(bucket(40_000)))


def test_repointing_a_big_exact_group_is_streamed_not_held():
    doc = make_doc("x", _window(1))

    def group(size):
        values = _Regenerated(size + 1, lambda i: "new-root" if i == size else dataclasses.replace(
            doc, id=f"p{i:07d}").reject("dedup", "exact_duplicate", "old-root"))
        return lambda: repoint(("old-root", values))

    _assert_flat(_peak_bytes(group(1_000)), _peak_bytes(group(8_000)))
