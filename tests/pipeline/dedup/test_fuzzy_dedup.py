"""MinHash/LSH dedup on real text, checked against brute-force Jaccard and a plain union-find.

One Beam run over: the Clough-Stevenson plagiarism answers (any cluster with a
`non` answer is a false positive), paragraphs of two Project Gutenberg
editions of the same books, and windows of the LM corpus each paired with a
copy mutated at a known rate (plus a few exact copies).
"""
import random
from collections import defaultdict

import pytest
from dedup_testlib import DATA, UnionFind, exact_groups, make_doc, paragraphs, read_text, run_dedup, similar_pairs

from pipeline.dedup import DedupConfig
from pipeline.dedup.minhash import MinHasher

CONFIG = DedupConfig(cc_rounds=6)   # these graphs settle in 3 rounds; fewer rounds keep the test fast
BANDS, ROWS = CONFIG.bands_rows()
T = CONFIG.threshold


def s_curve(j: float) -> float:
    """Probability that LSH with BANDS x ROWS makes a pair of Jaccard j a candidate."""
    return 1 - (1 - j ** ROWS) ** BANDS


def plagiarism_docs():
    folder = DATA / "dedup/clough_stevenson_plagiarism"
    labels = dict(line.split(",")[::2] for line in (folder / "labels.csv").read_text().split()[1:])
    return [make_doc(f"cs/{name}", read_text(folder / "texts" / name)) for name in labels], labels


def edition_docs():
    """Paragraphs (>= 40 words) from a stretch of both editions of two books."""
    folder, docs = DATA / "dedup/gutenberg_editions/texts", []
    for book, lo, hi in (("pg972_the-devil-s-dictionary", 0, 180), ("pg14263_katrine", 100, 200)):
        for path in sorted(folder.glob(f"{book}__*.txt")):
            edition = path.stem.split("__")[1]
            for i, para in enumerate(paragraphs(read_text(path), 40)[lo:hi]):
                docs.append(make_doc(f"ed/{book[:6]}/{edition}/{lo + i:04d}", para))
    return docs


def mutated_docs(families: int = 120, words: int = 150):
    """Disjoint LM-corpus windows, each with a copy whose words are replaced at a known rate."""
    rng = random.Random(1234)
    text = " ".join(read_text(p) for p in sorted((DATA / "lm_corpus/gutenberg").glob("*.txt")))
    corpus = text.split()
    vocab = sorted(set(corpus))
    stride = len(corpus) // families
    docs = []
    for k in range(families):
        base = corpus[k * stride:k * stride + words]
        rate = 0.15 * k / families   # 0 .. 0.15 word substitutions: Jaccard ~1 down to ~0.3
        mutant = [rng.choice(vocab) if rng.random() < rate else w for w in base]
        docs += [make_doc(f"mu/{k:03d}/a", " ".join(base)), make_doc(f"mu/{k:03d}/b", " ".join(mutant))]
        if k % 10 == 0:   # an exact duplicate after normalization: counted in the cluster size
            docs.append(make_doc(f"mu/{k:03d}/c", " ".join(base).upper() + " !!"))
        if k % 10 == 5:   # an exact duplicate of the mutant: must end up pointing at the base
            docs.append(make_doc(f"mu/{k:03d}/d", " ".join(mutant).lower()))
    return docs


@pytest.fixture(scope="module")
def run():
    plagiarism, labels = plagiarism_docs()
    docs = plagiarism + edition_docs() + mutated_docs()
    kept, rejected, _ = run_dedup(docs, CONFIG)
    cluster = {d.id: d.id for d in kept} | {d.id: d.duplicate_of for d in rejected}
    return docs, labels, {d.id: d for d in kept}, {d.id: d for d in rejected}, cluster


@pytest.fixture(scope="module")
def truth(run):
    """Exact Jaccard of every pair sharing a shingle."""
    return similar_pairs(run[0])


def test_every_doc_ends_kept_or_rejected_once(run):
    docs, _, kept, rejected, _ = run
    assert len(kept) + len(rejected) == len(docs) and not kept.keys() & rejected.keys()
    assert all(d.duplicate_of in kept for d in rejected.values())   # always points at a kept doc


def test_kept_set_equals_union_find_over_same_candidate_edges(run):
    docs, _, kept, rejected, _ = run
    groups = exact_groups(docs)   # exact-kept id -> its exact group
    text = {d.id: d.text for d in docs}
    hasher = MinHasher(CONFIG.num_perm, CONFIG.ngram, CONFIG.seed, BANDS, ROWS)
    survivors = sorted(groups)
    buckets = defaultdict(list)
    for doc_id, sig in zip(survivors, hasher.signatures([text[i] for i in survivors])):
        for key in hasher.band_keys(sig):
            buckets[key].append(doc_id)
    uf = UnionFind()
    for ids in buckets.values():   # every pair in a bucket, not a star: same components
        for a in ids:
            for b in ids:
                uf.union(a, b)
    members = defaultdict(list)
    for root in survivors:
        members[uf.find(root)] += groups[root]
    assert set(kept) == set(members)
    assert {i: d.dup_cluster_size for i, d in kept.items()} == {r: len(m) for r, m in members.items()}
    expected = {m: (root, "exact_duplicate" if m not in groups else "near_duplicate")
                for root, ms in members.items() for m in ms if m != root}
    assert {i: (d.duplicate_of, d.reason) for i, d in rejected.items()} == expected
    assert sum(len(m) > 1 for m in members.values()) > 100   # the data really has near-duplicates


def test_plagiarism_answers_written_without_source_stay_alone(run):
    _, labels, kept, _, cluster = run
    clustered = {doc_id for doc_id, root in cluster.items() if root != doc_id} | \
                {root for doc_id, root in cluster.items() if root != doc_id}
    non = {f"cs/{name}" for name, category in labels.items() if category == "non"}
    assert not non & clustered


def test_pairs_above_threshold_are_caught(run, truth):
    _, _, _, _, cluster = run
    high = [(pair, j) for pair, j in truth.items() if j >= T + 0.1]
    caught = [cluster[a] == cluster[b] for (a, b), _ in high]
    expected = sum(s_curve(j) for _, j in high)
    assert len(high) > 200
    assert sum(caught) >= expected - 3 * expected ** 0.5
    assert all(c for c, (_, j) in zip(caught, high) if j >= 0.95)   # P(miss) < 1e-6 each


def test_pairs_below_threshold_rarely_merged(run, truth):
    docs, _, _, _, cluster = run
    ids = [d.id for d in docs]
    low = {pair: j for pair, j in truth.items() if j < T - 0.1}
    merged = sum(cluster[a] == cluster[b] for a, b in low)
    expected = sum(s_curve(j) for j in low.values())   # pairs sharing no shingle have P = 0
    assert merged <= expected + 3 * expected ** 0.5 + 2
    # a random sample of all pairs: clusters are not glued together by chains
    rng = random.Random(0)
    sample = [tuple(sorted(rng.sample(ids, 2))) for _ in range(20000)]
    assert sum(cluster[a] == cluster[b] and truth.get((a, b), 0) < T - 0.1 for a, b in sample) <= 2


def test_merge_rate_follows_the_lsh_s_curve(run, truth):
    _, _, _, _, cluster = run
    families = [(f"mu/{k:03d}/a", f"mu/{k:03d}/b") for k in range(120)]
    bins = defaultdict(list)
    for a, b in families:
        j = truth.get((a, b), 0.0)
        bins[min(int(j * 5), 4)].append((j, cluster[a] == cluster[b]))
    checked = 0
    for pairs in bins.values():
        if len(pairs) >= 10:
            p = sum(s_curve(j) for j, _ in pairs) / len(pairs)
            observed = sum(m for _, m in pairs) / len(pairs)
            assert abs(observed - p) <= 3 * (p * (1 - p) / len(pairs)) ** 0.5 + 0.05, (p, observed, len(pairs))
            checked += 1
    assert checked >= 3


def test_a_page_copied_hundreds_of_times_makes_linear_edges():
    rng = random.Random(3)
    words = read_text(DATA / "lm_corpus/gutenberg/austen-persuasion.txt").split()[5000:5100]
    docs = []
    for i in range(400):   # each copy with one word changed: all distinct, all near-duplicates
        copy = list(words)
        copy[rng.randrange(len(copy))] = f"w{i}"
        docs.append(make_doc(f"copy/{i:04d}", " ".join(copy)))
    kept, rejected, result = run_dedup(docs, DedupConfig(cc_rounds=4))
    edges = next(c.committed for c in result.metrics().query()["counters"]
                 if c.key.metric.name == "candidate_edges")
    assert [(d.id, d.dup_cluster_size) for d in kept] == [("copy/0000", 400)]
    assert {d.duplicate_of for d in rejected} == {"copy/0000"}
    assert edges <= BANDS * (len(docs) - 1)   # a clique would be 400 * 399 / 2 = 80k edges
