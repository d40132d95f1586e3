"""Text normalization and word n-gram shingles shared by exact and fuzzy dedup.

Two documents that differ only in case, punctuation, digits, Unicode form or
whitespace normalize to the same text, so exact dedup catches them and their
shingles agree (as datatrove's `simplify_text` does for FineWeb).
"""
import hashlib
import unicodedata


class _Table(dict):
    """str.translate table: punctuation and symbols deleted, decimal digits folded to 0.

    Filled lazily, one entry per character seen: a single C-level pass over the
    text, several times faster than regexes, without scanning all of Unicode.
    """

    def __missing__(self, cp: int) -> str | None:
        cat = unicodedata.category(chr(cp))
        self[cp] = value = None if cat[0] in "PS" else "0" if cat == "Nd" else cp
        return value


_TABLE = _Table()


def normalize(text: str) -> str:
    """NFKC, lowercase, punctuation and symbols removed, digits folded to 0, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TABLE)
    return " ".join(text.split())


def text_hash(text: str) -> str:
    """Key of exact dedup: a 128-bit hash of the normalized text (hex)."""
    return hashlib.blake2b(normalize(text).encode(), digest_size=16).hexdigest()


def shingles(text: str, n: int) -> list[bytes]:
    """Distinct word n-grams of the normalized text, as UTF-8 bytes for hashing.

    A text shorter than n words is one shingle (itself); an empty text has none.
    Splitting the encoded text (rather than encoding each n-gram) saves a third of the time.
    """
    words = normalize(text).encode().split()
    if len(words) <= n:
        return [b" ".join(words)] if words else []
    return list(set(map(b" ".join, zip(*(words[i:] for i in range(n))))))
