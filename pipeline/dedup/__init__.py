"""Dedup stage: exact (normalized-text hash), then MinHash/LSH near-duplicates.

`Dedup(config)` maps PCollection[Doc] to {"kept", "rejected"}; kept documents
carry `dup_cluster_size`, rejected ones stage "dedup", a reason
(`exact_duplicate` or `near_duplicate`) and `duplicate_of` (the kept id).
"""
import apache_beam as beam

from pipeline.dedup.config import DedupConfig
from pipeline.dedup.exact import ExactDedup

__all__ = ["Dedup", "DedupConfig"]


class Dedup(beam.PTransform):
    def __init__(self, config: DedupConfig | None = None):
        super().__init__()
        self.config = config or DedupConfig()

    def expand(self, docs):
        exact = docs | "Exact" >> ExactDedup()
        return {"kept": exact.kept, "rejected": exact.rejected}
