"""Options of the dedup stage (recorded in the manifest)."""
from dataclasses import dataclass
from functools import lru_cache

from datasketch.lsh import _optimal_param


@dataclass
class DedupConfig:
    fuzzy: bool = True             # MinHash/LSH after exact dedup; False = exact only
    # Jaccard similarity (of word n-gram sets) above which two documents are
    # near-duplicates. Bands and rows come from datasketch's optimisation of the
    # LSH S-curve for it; 0.65 gives FineWeb's 14 bands x 8 rows of 112 hashes.
    threshold: float = 0.65
    num_perm: int = 112            # MinHash permutations (FineWeb: 112)
    ngram: int = 5                 # words per shingle (FineWeb: 5)
    seed: int = 1                  # MinHash permutation seed: runs deduplicated against each other must agree
    against: str | None = None     # a previous OUT: drop documents near-duplicate to what it kept
    batch_size: int = 256          # most documents per MinHash signature batch
    cc_rounds: int = 16            # large-star + small-star rounds unrolled for connected components (log2 of the longest chain)

    def bands_rows(self) -> tuple[int, int]:
        """(bands, rows per band) minimising false positives + false negatives at `threshold`."""
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1), got {self.threshold}")
        return _bands_rows(self.threshold, self.num_perm)


@lru_cache
def _bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    return _optimal_param(threshold, num_perm, 0.5, 0.5)
