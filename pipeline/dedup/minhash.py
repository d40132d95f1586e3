"""MinHash signatures (datasketch, computed in batches) and their LSH band keys."""
import hashlib
import zlib

import numpy as np
from datasketch import MinHash

from cc2gpt.pipeline.dedup.normalize import shingles


class MinHasher:
    """Signatures of texts over word n-gram shingles, and the band keys LSH groups them by.

    Shingles are hashed with CRC-32 (C, deterministic across processes), which
    datasketch's affine32 scheme premixes with MurmurHash3's finalizer; SHA-1,
    datasketch's default, costs three times as much and buys nothing here.
    """

    def __init__(self, num_perm: int, ngram: int, seed: int, bands: int, rows: int):
        if bands * rows > num_perm:
            raise ValueError(f"{bands} bands x {rows} rows need more than {num_perm} permutations")
        self.num_perm, self.ngram, self.seed = num_perm, ngram, seed
        self.bands, self.rows = bands, rows

    @property
    def sketch(self) -> str:
        """Names what makes two runs' signatures comparable (stored beside saved signatures)."""
        return f"datasketch-affine32/crc32/perm={self.num_perm}/seed={self.seed}/ngram={self.ngram}"

    def signatures(self, texts: list[str]) -> list[bytes | None]:
        """One signature (num_perm uint32 as bytes) per text; None for a text with no words."""
        grams = [shingles(text, self.ngram) for text in texts]
        hashed = MinHash.generator((g for g in grams if g), num_perm=self.num_perm,
                                   seed=self.seed, hashfunc=zlib.crc32)
        return [next(hashed).hashvalues.tobytes() if g else None for g in grams]

    def band_keys(self, signature: bytes) -> list[tuple[int, bytes]]:
        """(band index, 64-bit hash of the band's rows): equal keys = LSH candidates."""
        width = 4 * self.rows
        return [(b, hashlib.blake2b(signature[b * width:(b + 1) * width], digest_size=8).digest())
                for b in range(self.bands)]


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity: the share of equal MinHash values."""
    return float(np.mean(np.frombuffer(a, np.uint32) == np.frombuffer(b, np.uint32)))
