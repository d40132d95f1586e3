"""Parquet sinks for kept and rejected documents, their schemas derived from `Doc`.

Each quality signal a filter or rewriter computed becomes its own float column,
so users can re-threshold with pyarrow without rerunning the job. Rejected rows
add the `stage`, `reason` and `duplicate_of` columns.
"""
import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import CompressionTypes, FileSystems

from pipeline.doc import Doc, columns

_ARROW = {"str": pa.string(), "float": pa.float64(), "int": pa.int64()}


def document_schema(signal_names: list[str], rejected: bool = False) -> pa.Schema:
    """Doc's fields, then one float64 column per signal, then (rejected) the reject fields."""
    fields = [(name, _ARROW[kind]) for name, kind in columns()]
    fields += [(name, pa.float64()) for name in signal_names]
    if rejected:
        fields += [(name, _ARROW[kind]) for name, kind in columns(rejected=True)]
    return pa.schema(fields)


def to_row(doc: Doc, signal_names: list[str], rejected: bool = False) -> dict:
    """One Parquet row; signals a filter never reached are null."""
    row = {name: getattr(doc, name) for name, _ in columns()}
    row.update({name: _float_or_none(doc.signals.get(name)) for name in signal_names})
    if rejected:
        row.update({name: getattr(doc, name) for name, _ in columns(rejected=True)})
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
