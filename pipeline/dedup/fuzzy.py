"""MinHash/LSH near-duplicate stages: signatures, LSH buckets, matches against a previous run."""
import apache_beam as beam
from apache_beam.metrics import Metrics

from cc2gpt.pipeline.dedup.minhash import MinHasher, similarity
from cc2gpt.pipeline.doc import Doc


class Sign(beam.DoFn):
    """Batch of docs -> (id, signature) per doc with words (datasketch's bulk generator).

    A stashed document's reference (`pipeline.stash.DocRef`) brings its signature along.
    """

    def __init__(self, hasher: MinHasher):
        self.hasher = hasher
        self.wordless = Metrics.counter("dedup", "docs_without_shingles")

    def process(self, batch):
        for doc, sig in zip(batch, self._signatures(batch)):
            if sig is None:
                self.wordless.inc()   # nothing to compare: such a doc is only exact-deduplicated
            else:
                yield doc.id, sig

    def _signatures(self, batch):
        if isinstance(batch[0], Doc):
            return self.hasher.signatures([d.text for d in batch])
        return [ref.signature for ref in batch]


class Signatures(beam.PTransform):
    """PCollection[Doc or DocRef] -> PCollection[(id, signature bytes)]."""

    def __init__(self, hasher: MinHasher, batch_size: int):
        super().__init__()
        self.hasher, self.batch_size = hasher, batch_size

    def expand(self, docs):
        return (docs
                | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_size)
                | "MinHash" >> beam.ParDo(Sign(self.hasher)))


def _band_entries(signature, hasher: MinHasher):
    doc_id, sig = signature
    return [(key, doc_id) for key in hasher.band_keys(sig)]


class Star(beam.DoFn):
    """All ids sharing one band key -> edges to the smallest: n-1 edges, never n^2/2."""

    def __init__(self):
        self.edges = Metrics.counter("dedup", "candidate_edges")   # before removing repeats across bands
        self.sizes = Metrics.distribution("dedup", "bucket_size")   # the largest is one worker's load

    def process(self, bucket):
        _, ids = bucket
        size, root = 0, None
        for i in ids:
            size += 1
            root = i if root is None or i < root else root
        self.sizes.update(size)
        edges = 0
        for i in ids:
            if i != root:
                edges += 1
                yield i, root
        self.edges.inc(edges)  # one metrics update per bucket, not one per edge


class CandidateEdges(beam.PTransform):
    """PCollection[(id, signature)] -> distinct LSH candidate edges (id, smaller id)."""

    def __init__(self, hasher: MinHasher):
        super().__init__()
        self.hasher = hasher

    def expand(self, signatures):
        return (signatures
                | "BandKeys" >> beam.FlatMap(_band_entries, self.hasher)
                | "Buckets" >> beam.GroupByKey()
                | "StarEdges" >> beam.ParDo(Star())
                | "DistinctEdges" >> beam.Distinct())


class _MatchPrevious(beam.DoFn):
    """A bucket of new and previously kept docs -> (new id, previous id) for pairs over the threshold."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def process(self, bucket):
        _, entries = bucket
        previous = sorted((doc_id, sig) for is_prev, doc_id, sig in entries if is_prev)
        if not previous:
            return
        for is_prev, doc_id, sig in entries:
            if not is_prev:
                for prev_id, prev_sig in previous:
                    if similarity(sig, prev_sig) >= self.threshold:
                        yield doc_id, prev_id
                        break


def _tagged_band_entries(signature, hasher: MinHasher, is_prev: bool):
    doc_id, sig = signature
    return [(key, (is_prev, doc_id, sig)) for key in hasher.band_keys(sig)]


class MatchPrevious(beam.PTransform):
    """(new signatures, previous signatures) -> (new id, smallest matching previous id).

    A new doc matches a previously kept one when a band collides and the
    estimated Jaccard similarity reaches the threshold.
    """

    def __init__(self, hasher: MinHasher, threshold: float):
        super().__init__()
        self.hasher, self.threshold = hasher, threshold

    def expand(self, pcolls):
        new, previous = pcolls
        return ((new | "NewBandKeys" >> beam.FlatMap(_tagged_band_entries, self.hasher, False),
                 previous | "PreviousBandKeys" >> beam.FlatMap(_tagged_band_entries, self.hasher, True))
                | "AllBandKeys" >> beam.Flatten()
                | "Buckets" >> beam.GroupByKey()
                | "Match" >> beam.ParDo(_MatchPrevious(self.threshold))
                | "SmallestMatch" >> beam.CombinePerKey(min))
