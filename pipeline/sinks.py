"""Parquet sinks for kept and rejected documents.

Each quality signal a filter computed becomes its own float column, so users
can re-threshold with pyarrow without rerunning the job.
"""
import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import CompressionTypes, FileSystems

DOC_FIELDS = [
    ("id", pa.string()),
    ("url", pa.string()),
    ("crawl_date", pa.string()),
    ("text", pa.string()),
    ("language", pa.string()),
    ("language_score", pa.float64()),
    ("dup_cluster_size", pa.int64()),
]
REJECT_FIELDS = [("stage", pa.string()), ("reason", pa.string()), ("duplicate_of", pa.string())]


def document_schema(signal_names: list[str], rejected: bool = False) -> pa.Schema:
    fields = DOC_FIELDS + [(name, pa.float64()) for name in signal_names]
    return pa.schema(fields + (REJECT_FIELDS if rejected else []))


def to_row(doc, signal_names, rejected=False):
    """Flatten a Doc into one Parquet row; signals a filter never reached are null."""
    row = {name: doc.get(name) for name, _ in DOC_FIELDS}
    row["text"] = row["text"] or ""
    row["language"] = row["language"] or ""
    row["dup_cluster_size"] = doc.get("dup_cluster_size", 1)
    signals = doc.get("signals") or {}
    row.update({name: _float_or_none(signals.get(name)) for name in signal_names})
    if rejected:
        row.update(stage=doc["stage"], reason=doc["reason"], duplicate_of=doc.get("duplicate_of", ""))
    return row


def _float_or_none(value):
    return None if value is None else float(value)


class WriteDocuments(beam.PTransform):
    """Docs -> OUT/<folder>/part-*.parquet; yields the written file names."""

    def __init__(self, out_dir: str, folder: str, signal_names: list[str], rejected: bool = False):
        super().__init__()
        self.prefix = f"{out_dir}/{folder}/part"
        self.signal_names = list(signal_names)
        self.rejected = rejected

    def expand(self, docs):
        return (
            docs
            | "ToRow" >> beam.Map(to_row, self.signal_names, self.rejected)
            | "Parquet" >> beam.io.WriteToParquet(
                self.prefix, document_schema(self.signal_names, self.rejected),
                codec="zstd", file_name_suffix=".parquet")
        )


def write_bytes(data: bytes, path: str) -> bytes:
    """Write one small file as is through FileSystems (local, gs://, s3://); returns `data` for a Map."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    return data
