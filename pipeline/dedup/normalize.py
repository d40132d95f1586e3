"""Text normalization and word n-gram shingles shared by exact and fuzzy dedup.

Two documents that differ only in case, punctuation, digits, Unicode form or
whitespace normalize to the same text, so exact dedup catches them and their
shingles agree (as datatrove's `simplify_text` for FineWeb).
"""
import hashlib
import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")


def normalize(text: str) -> str:
    """NFKC, lowercase, punctuation removed, every digit folded to 0, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIGIT.sub("0", _PUNCT.sub("", text))
    return " ".join(text.split())


def text_hash(text: str) -> str:
    """Key of exact dedup: a 128-bit hash of the normalized text (hex)."""
    return hashlib.blake2b(normalize(text).encode(), digest_size=16).hexdigest()


def shingles(text: str, n: int) -> list[bytes]:
    """Distinct word n-grams of the normalized text, as UTF-8 bytes for hashing.

    A text shorter than n words is one shingle (itself); an empty text has none.
    """
    words = normalize(text).split()
    if len(words) <= n:
        return [" ".join(words).encode()] if words else []
    grams = map(" ".join, zip(*(words[i:] for i in range(n))))
    return [g.encode() for g in set(grams)]
