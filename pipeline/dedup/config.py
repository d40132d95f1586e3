"""Options of the dedup stage (recorded in the manifest), and the LSH banding they imply."""
from dataclasses import dataclass
from functools import lru_cache

from scipy.integrate import quad


@dataclass
class DedupConfig:
    fuzzy: bool = True             # MinHash/LSH after exact dedup; False = exact only
    # Jaccard similarity (of word n-gram sets) above which two documents are
    # near-duplicates. Bands and rows minimise the LSH S-curve's errors around it
    # (`bands_rows_for`); 0.65 gives FineWeb's 14 bands x 8 rows of 112 hashes.
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
        return bands_rows_for(self.threshold, self.num_perm)


@lru_cache
def bands_rows_for(threshold: float, num_perm: int) -> tuple[int, int]:
    """The (bands, rows) with bands x rows <= num_perm that minimise the mean of the false
    positive area (the S-curve 1 - (1 - s^rows)^bands integrated over similarities below the
    threshold) and the false negative area (1 minus it, above): datasketch's MinHashLSH choice."""
    best, best_error = (0, 0), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            false_positive = quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)[0]
            false_negative = quad(lambda s: (1 - s ** float(r)) ** float(b), threshold, 1.0)[0]
            error = 0.5 * false_positive + 0.5 * false_negative
            if error < best_error:
                best, best_error = (b, r), error
    return best
