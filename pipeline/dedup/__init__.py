"""Dedup stage: exact (normalized-text hash), then MinHash/LSH near-duplicates.

`Dedup(config, out)` maps PCollection[Doc] to {"kept", "rejected"} (plus
"signature_files" when `out` is given), or the same of `pipeline.stash.DocRef`s:
the curation job decides on references that carry each document's text hash
and signature, not its text. Kept documents carry
`dup_cluster_size` (documents they stand for, themselves included), rejected
ones stage "dedup", a reason (`exact_duplicate` or `near_duplicate`) and
`duplicate_of`: the id of the kept document (for a match against a previous
run, that run's kept document).

Memory: a worker holds one signature batch (`DedupConfig.batch_size` documents)
or one key's values (an exact group, an LSH bucket, a node's neighbourhood) at a
time, and no shuffle carries a document's text and its signature together. What
else a DirectRunner worker holds grows with its share of each bundle, the
runner's doing: `bench/dedup_throughput.py --memory-docs` measures it.
"""
import dataclasses

import apache_beam as beam

from cc2gpt.pipeline.dedup.components import ConnectedComponents
from cc2gpt.pipeline.dedup.config import DedupConfig
from cc2gpt.pipeline.dedup.exact import STAGE, ExactDedup
from cc2gpt.pipeline.dedup.fuzzy import CandidateEdges, MatchPrevious, Signatures
from cc2gpt.pipeline.dedup.minhash import MinHasher
from cc2gpt.pipeline.dedup.store import ReadSignatures, WriteSignatures
from cc2gpt.pipeline.doc import REJECTED

__all__ = ["Dedup", "DedupConfig"]


class Dedup(beam.PTransform):
    """Exact dedup, then near-duplicate components over LSH candidate edges, one doc kept per component.

    With `out`, the kept documents' signatures are written under OUT/dedup/ for
    a later run's `DedupConfig.against`.
    """

    def __init__(self, config: DedupConfig | None = None, out: str | None = None):
        super().__init__()
        self.config = config or DedupConfig()
        self.out = out

    def expand(self, docs):
        cfg = self.config
        if cfg.against and not cfg.fuzzy:
            raise ValueError("dedup against a previous run compares MinHash signatures: it needs fuzzy dedup on")
        exact = docs | "Exact" >> ExactDedup()
        if not cfg.fuzzy:
            return {"kept": exact.kept, "rejected": exact[REJECTED]}
        hasher = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed, *cfg.bands_rows())

        signatures = exact.kept | "Signatures" >> Signatures(hasher, cfg.batch_size)
        if cfg.against:
            previous = docs.pipeline | "PreviousSignatures" >> ReadSignatures(cfg.against, hasher.sketch)
            matches = (signatures, previous) | "MatchPrevious" >> MatchPrevious(hasher, cfg.threshold)
            signatures = ({"sig": signatures, "match": matches}
                          | "JoinMatches" >> beam.CoGroupByKey()
                          | "Unmatched" >> beam.FlatMap(_unmatched))
        else:
            matches = docs.pipeline | "NoMatches" >> beam.Create([])
        roots = (signatures
                 | "CandidateEdges" >> CandidateEdges(hasher)
                 | "Components" >> ConnectedComponents(cfg.cc_rounds))

        by_id = exact.kept | "KeyById" >> beam.Map(lambda d: (d.id, d))
        absorbed = ({"root": roots, "size": by_id | "Sizes" >> beam.MapTuple(lambda i, d: (i, d.dup_cluster_size))}
                    | "JoinRootSizes" >> beam.CoGroupByKey()
                    | "SizeToRoot" >> beam.FlatMap(_size_to_root)
                    | "SumAbsorbed" >> beam.CombinePerKey(sum))
        decided = ({"doc": by_id, "root": roots, "previous": matches, "absorbed": absorbed}
                   | "JoinDecisions" >> beam.CoGroupByKey()
                   | "Decide" >> beam.ParDo(_Decide()).with_outputs(REJECTED, "moved", main="kept"))
        exact_rejected = ((exact[REJECTED] | "KeyByKept" >> beam.Map(lambda d: (d.duplicate_of, d)),
                           decided.moved)
                          | "RejectsAndMoves" >> beam.Flatten()
                          | "ByFormerKept" >> beam.GroupByKey()
                          | "Repoint" >> beam.FlatMap(repoint))

        result = {"kept": decided.kept,
                  "rejected": (decided[REJECTED], exact_rejected) | "AllRejected" >> beam.Flatten()}
        if self.out:  # joined apart from the documents: no shuffle carries a text and a signature together
            result["signature_files"] = (
                {"sig": signatures, "root": roots}
                | "JoinKeptSignatures" >> beam.CoGroupByKey()
                | "KeptSignatures" >> beam.FlatMap(_kept_signature)
                | "SaveSignatures" >> WriteSignatures(self.out, hasher.sketch))
        return result


def _unmatched(joined):
    doc_id, g = joined
    if not g["match"]:
        for sig in g["sig"]:
            yield doc_id, sig


def _size_to_root(joined):
    _, g = joined
    for root in g["root"]:
        for size in g["size"]:
            yield root, size


def _kept_signature(joined):
    """(id, signature) of a doc kept by fuzzy dedup (matches of a previous run have no signature here)."""
    doc_id, g = joined
    if not g["root"]:
        for sig in g["sig"]:
            yield doc_id, sig


class _Decide(beam.DoFn):
    """Per id: kept (with its cluster size) or near_duplicate of its component's root / a previous doc."""

    def process(self, joined):
        doc_id, g = joined
        target = next(iter(g["previous"] or g["root"]), None)
        for doc in g["doc"]:
            if target is None:
                yield dataclasses.replace(doc, dup_cluster_size=doc.dup_cluster_size + sum(g["absorbed"]))
            else:
                yield beam.pvalue.TaggedOutput(REJECTED, doc.reject(STAGE, "near_duplicate", target))
        if target is not None:
            yield beam.pvalue.TaggedOutput("moved", (doc_id, target))


def repoint(group):
    """Exact duplicates of a doc that fuzzy dedup dropped point to the doc kept in its place.

    The group holds the rejects (Docs or DocRefs) and at most one new target (str). Two
    passes over Beam's re-iterable values rather than CoGroupByKey, which would
    hold all copies of a page copied thousands of times in one list.
    """
    _, values = group
    target = next((v for v in values if isinstance(v, str)), None)
    for doc in values:
        if not isinstance(doc, str):
            yield doc if target is None else dataclasses.replace(doc, duplicate_of=target)
