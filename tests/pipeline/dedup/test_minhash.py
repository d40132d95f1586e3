"""MinHash signatures and LSH parameters, without Beam."""
import pytest
from dedup_testlib import DATA, jaccard, read_text

from pipeline.dedup import DedupConfig
from pipeline.dedup.minhash import MinHasher, similarity


def test_threshold_picks_bands_and_rows_with_datasketch():
    assert DedupConfig().bands_rows() == (14, 8)   # FineWeb's 112 = 14 x 8
    assert DedupConfig(threshold=0.8).bands_rows() == (9, 12)
    with pytest.raises(ValueError, match="threshold"):
        DedupConfig(threshold=1.5).bands_rows()


def test_estimates_agree_with_exact_jaccard_on_plagiarism_set():
    texts = [read_text(p) for p in sorted((DATA / "dedup/clough_stevenson_plagiarism/texts").glob("*.txt"))]
    sigs = MinHasher(112, 5, 1, 14, 8).signatures(texts)
    pairs = [(jaccard(texts[a], texts[b]), similarity(sigs[a], sigs[b]))
             for a in range(len(texts)) for b in range(a + 1, len(texts))]
    related = [(j, e) for j, e in pairs if j >= 0.1]
    assert len(related) >= 10
    # a MinHash estimate is a mean of 112 Bernoulli(J) draws: within 4 standard errors
    assert all(abs(e - j) <= 4 * (j * (1 - j) / 112) ** 0.5 + 0.02 for j, e in related)
    assert sum(e for j, e in pairs if j == 0) / sum(j == 0 for j, _ in pairs) < 0.01


def test_batches_equal_one_by_one_and_wordless_texts_have_none():
    hasher = MinHasher(112, 5, 1, 14, 8)
    texts = ["the quick brown fox jumps over the lazy dog " * 3, "?!", "Another short one."]
    assert hasher.signatures(texts) == [hasher.signatures([t])[0] for t in texts]
    assert hasher.signatures(texts)[1] is None
    assert len(hasher.band_keys(hasher.signatures(texts)[0])) == 14
    with pytest.raises(ValueError, match="permutations"):
        MinHasher(112, 5, 1, 15, 8)
