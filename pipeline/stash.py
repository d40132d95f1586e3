"""Documents parked in temporary Parquet by the worker that made them; small references flow on.

A Beam runner may hold a stage's whole output somewhere between stages (the
local runner keeps it in the launcher's memory), so documents, text and all,
do not travel through the job after the quality filters. `Stash` writes each
bundle's documents (in chunks of at most `max_chars` of text) to a temporary
Parquet file under OUT/_temporary/, through Beam's FileSystems, and passes on
one `DocRef` per document: its id, where its row is, and what dedup decides
on (the normalized-text hash and MinHash signature, computed here while the
text is at hand). Only the files that committed references point to are ever
read back, so a retried bundle's orphan file is never used; `remove_temporary`
deletes them all at the end of the job.
"""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from cc2gpt.pipeline.dedup.minhash import MinHasher
from cc2gpt.pipeline.dedup.normalize import text_hash
from cc2gpt.pipeline.sinks import document_schema, to_row, write_table

TEMPORARY = "_temporary"


@dataclass
class DocRef:
    """A stashed document as dedup and the funnel see it: a few hundred bytes instead of its text."""
    id: str
    file: str                     # the temporary Parquet file holding the document's row
    row: int                      # its row in that file
    text_hash: str = ""           # normalized-text hash (exact dedup); "" for rejects
    signature: bytes | None = None  # MinHash signature (fuzzy dedup); None without one or without words
    dup_cluster_size: int = 1
    stage: str = ""
    reason: str = ""
    duplicate_of: str = ""

    def reject(self, stage: str, reason: str, duplicate_of: str = "") -> DocRef:
        return dataclasses.replace(self, stage=stage, reason=reason, duplicate_of=duplicate_of)


class StashFn(beam.DoFn):
    """Doc -> DocRef; the Docs go to `folder`/<random>.parquet in the rejected-documents schema."""

    def __init__(self, folder: str, signal_names: list[str], dedup_keys: bool = False,
                 hasher: MinHasher | None = None, max_chars: int = 16 << 20):
        self.folder, self.signal_names = folder, list(signal_names)
        self.dedup_keys, self.hasher, self.max_chars = dedup_keys, hasher, max_chars
        self.schema = document_schema(self.signal_names, rejected=True)

    def start_bundle(self):
        self._docs, self._chars = [], 0

    def process(self, doc):
        self._docs.append(doc)
        self._chars += len(doc.text)
        if self._chars >= self.max_chars:
            yield from self._flush()

    def finish_bundle(self):
        for ref in self._flush():
            yield GlobalWindows.windowed_value(ref)

    def _flush(self) -> list[DocRef]:
        docs, self._docs, self._chars = self._docs, [], 0
        if not docs:
            return []
        path = f"{self.folder}/{uuid.uuid4().hex}.parquet"
        write_table(pa.Table.from_pylist([to_row(d, self.signal_names, rejected=True) for d in docs],
                                         self.schema), path)
        signatures = self.hasher.signatures([d.text for d in docs]) if self.hasher else [None] * len(docs)
        return [DocRef(d.id, path, i, text_hash(d.text) if self.dedup_keys else "", sig, d.dup_cluster_size,
                       d.stage, d.reason, d.duplicate_of)
                for i, (d, sig) in enumerate(zip(docs, signatures))]


class Stash(beam.PTransform):
    """PCollection[Doc] -> PCollection[DocRef], the documents parked under `folder`.

    `dedup_keys`: the refs carry the text hash, and with a `hasher` the MinHash signature.
    """

    def __init__(self, folder: str, signal_names: list[str], dedup_keys: bool = False,
                 hasher: MinHasher | None = None, max_chars: int = 16 << 20):
        super().__init__()
        self.fn = StashFn(folder, signal_names, dedup_keys, hasher, max_chars)

    def expand(self, docs):
        return docs | "Park" >> beam.ParDo(self.fn)


def remove_temporary(out: str) -> None:
    """Delete OUT/_temporary/ (every stashed file, including orphans of retried bundles)."""
    tmp = f"{out}/{TEMPORARY}"
    if FileSystems.get_filesystem(tmp).has_dirs():   # a local folder
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        return
    files = [m.path for m in FileSystems.match([f"{tmp}/**"])[0].metadata_list]   # gs://, s3://: by prefix
    if files:
        FileSystems.delete(files)
