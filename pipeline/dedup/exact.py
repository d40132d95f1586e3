"""Exact dedup: one document kept per normalized-text hash, the one with the smallest id."""
import dataclasses

import apache_beam as beam
from apache_beam.metrics import Metrics

from cc2gpt.pipeline.dedup.normalize import text_hash
from cc2gpt.pipeline.doc import REJECTED, Doc

STAGE = "dedup"


class KeepSmallestId(beam.DoFn):
    """One group of identical normalized texts -> the kept doc (main) and rejects (tagged).

    Reads the grouped iterable twice (Beam's grouped values are re-iterable and
    may be streamed) instead of holding thousands of copies of a page in memory.
    """

    def __init__(self):
        self.sizes = Metrics.distribution("dedup", "exact_group_size")

    def process(self, group):
        _, docs = group
        size, keep_id = 0, None
        for doc in docs:
            size += 1
            if keep_id is None or doc.id < keep_id:
                keep_id = doc.id
        self.sizes.update(size)
        kept = False
        for doc in docs:
            if doc.id == keep_id and not kept:
                kept = True
                yield dataclasses.replace(doc, dup_cluster_size=size)
            else:
                yield beam.pvalue.TaggedOutput(REJECTED, doc.reject(STAGE, "exact_duplicate", keep_id))


def exact_key(doc) -> str:
    """A Doc's normalized-text hash, or the one a stashed document's reference carries."""
    return text_hash(doc.text) if isinstance(doc, Doc) else doc.text_hash


class ExactDedup(beam.PTransform):
    """PCollection[Doc or DocRef] -> {"kept", "rejected"}; kept ones carry their group size."""

    def expand(self, docs):
        return (
            docs
            | "KeyByTextHash" >> beam.Map(lambda doc: (exact_key(doc), doc))
            | "GroupIdentical" >> beam.GroupByKey()
            | "KeepSmallestId" >> beam.ParDo(KeepSmallestId()).with_outputs(REJECTED, main="kept")
        )
