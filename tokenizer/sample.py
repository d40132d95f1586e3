"""The deterministic, bounded training sample: the train-split documents with
the smallest stable hash of their id whose texts fit a byte budget.

Validation documents (`shards.split_of`) never enter it, so validation bits
per byte are never measured on text the merges were fitted to.

Shared by the Beam job's `TrainTokenizer` and `cc2gpt tokenizer train`, so both
pick the same documents (and train the same model) from the same input.
"""
from __future__ import annotations

from tokenizer.shards import split_of, stable_hash


def entry(doc_id: str, text: str) -> tuple:
    """A sample candidate: (hash, id, text, UTF-8 size); entries sort by (hash, id)."""
    return stable_hash(doc_id, "sample"), doc_id, text, len(text.encode("utf-8"))


def smallest_within(entries: list, max_bytes: int) -> tuple[list, int]:
    """The longest (hash, id)-ordered prefix of `entries` within `max_bytes` (at least one entry), and its size.

    Truncating partial results is safe: an entry in the prefix of all entries
    is also in the prefix of any subset holding it.
    """
    entries = sorted(entries, key=lambda e: (e[0], e[1]))
    kept, total = [], 0
    for e in entries:
        if total + e[3] > max_bytes and kept:
            break
        kept.append(e)
        total += e[3]
    return kept, total


class Sampler:
    """Add documents one by one (val-split ones are passed over); memory stays under about twice `max_bytes`."""

    def __init__(self, max_bytes: int, val_fraction: float):
        self.max_bytes, self.val_fraction, self.entries, self.total = max_bytes, val_fraction, [], 0

    def add(self, doc_id: str, text: str) -> None:
        if split_of(doc_id, self.val_fraction) != "train":
            return
        e = entry(doc_id, text)
        self.entries.append(e)
        self.total += e[3]
        if self.total > 2 * self.max_bytes:  # compact rarely: amortized O(log n) per document
            self.entries, self.total = smallest_within(self.entries, self.max_bytes)

    def texts(self) -> list[str]:
        return [e[2] for e in smallest_within(self.entries, self.max_bytes)[0]]
