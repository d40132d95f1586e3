"""MinHash signatures and LSH parameters, without Beam."""
import pytest
from datasketch import MinHashLSH
from dedup_testlib import DATA, jaccard, read_text

from pipeline.dedup import DedupConfig
from pipeline.dedup.config import bands_rows_for
from pipeline.dedup.minhash import MinHasher, similarity

CONFIG = DedupConfig()
HASHER = MinHasher(CONFIG.num_perm, CONFIG.ngram, CONFIG.seed, *CONFIG.bands_rows())


@pytest.mark.parametrize("num_perm", [32, 112, 128])
def test_banding_equals_datasketch_minhash_lsh(num_perm):
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9):
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        assert bands_rows_for(threshold, num_perm) == (lsh.b, lsh.r), (threshold, num_perm)


def test_default_banding_is_finewebs():
    assert CONFIG.bands_rows() == (14, 8)   # FineWeb's MinHash dedup: 14 buckets of 8 hashes
    with pytest.raises(ValueError, match="threshold"):
        DedupConfig(threshold=1.5).bands_rows()


def test_estimates_agree_with_exact_jaccard_on_plagiarism_set():
    texts = [read_text(p) for p in sorted((DATA / "dedup/clough_stevenson_plagiarism/texts").glob("*.txt"))]
    sigs = HASHER.signatures(texts)
    pairs = [(jaccard(texts[a], texts[b]), similarity(sigs[a], sigs[b]))
             for a in range(len(texts)) for b in range(a + 1, len(texts))]
    related = [(j, e) for j, e in pairs if j >= 0.1]
    assert len(related) >= 10
    # a MinHash estimate is a mean of num_perm Bernoulli(J) draws: within 4 standard errors,
    # plus 0.02 for shingle-hash collisions and the estimate's 1/num_perm granularity
    n = CONFIG.num_perm
    assert all(abs(e - j) <= 4 * (j * (1 - j) / n) ** 0.5 + 0.02 for j, e in related)
    assert sum(e for j, e in pairs if j == 0) / sum(j == 0 for j, _ in pairs) < 0.01


def test_batches_equal_one_by_one_and_wordless_texts_have_none():
    hasher = HASHER
    texts = ["the quick brown fox jumps over the lazy dog " * 3, "?!", "Another short one."]
    assert hasher.signatures(texts) == [hasher.signatures([t])[0] for t in texts]
    assert hasher.signatures(texts)[1] is None
    assert len(hasher.band_keys(hasher.signatures(texts)[0])) == hasher.bands
    with pytest.raises(ValueError, match="permutations"):
        MinHasher(hasher.num_perm, 5, 1, hasher.bands + 1, hasher.rows)
