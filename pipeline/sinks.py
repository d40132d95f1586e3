"""Parquet sinks for kept and rejected documents, their schemas derived from `Doc`.

Each quality signal a filter or rewriter computed becomes its own float column,
so users can re-threshold with pyarrow without rerunning the job. Rejected rows
add the `stage`, `reason` and `duplicate_of` columns. The documents reach the
sinks parked in temporary Parquet files (`pipeline.stash`), and dedup's
decisions on their references say which folder each row goes to.
"""
import io

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import CompressionTypes, FileSystems

from cc2gpt.pipeline.doc import Doc, columns

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
    """DocRefs of stashed documents after dedup -> OUT/documents/ and OUT/rejected/ Parquet files.

    Each temporary file becomes one file in each folder: its rows read back,
    kept ones with the cluster size dedup gave them, the others with dedup's
    stage, reason and `duplicate_of`. A file's name comes from its temporary
    file's, so a retried write replaces the same file. Output: the paths
    written (rejected ones tagged `rejected`).
    """

    def __init__(self, out_dir: str, signal_names: list[str]):
        super().__init__()
        self.out_dir, self.signal_names = out_dir, list(signal_names)

    def expand(self, refs):
        return (refs
                | "ByFile" >> beam.Map(lambda ref: (ref.file, ref))
                | "GroupByFile" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteDecidedFn(self.out_dir, self.signal_names))
                .with_outputs("rejected", main="documents"))


class _WriteDecidedFn(beam.DoFn):
    def __init__(self, out_dir: str, signal_names: list[str]):
        self.out_dir = out_dir
        self.kept_schema = document_schema(signal_names)

    def process(self, element):
        path, refs = element
        refs = sorted(refs, key=lambda ref: ref.row)
        table = read_table(path)
        if [ref.row for ref in refs] != list(range(table.num_rows)):
            raise ValueError(f"{path}: {table.num_rows} rows but decisions for rows {[r.row for r in refs]}")
        name = _final_name(path)
        kept = [ref for ref in refs if not ref.stage]
        if kept:
            rows = _decided(table, kept, ("dup_cluster_size",)).select(self.kept_schema.names)
            yield write_table(rows, f"{self.out_dir}/documents/{name}")
        dropped = [ref for ref in refs if ref.stage]
        if dropped:
            rows = _decided(table, dropped, ("dup_cluster_size", "stage", "reason", "duplicate_of"))
            yield beam.pvalue.TaggedOutput("rejected", write_table(rows, f"{self.out_dir}/rejected/{name}"))


def _decided(table: pa.Table, refs: list, columns: tuple[str, ...]) -> pa.Table:
    """The rows `refs` point to, with the columns dedup decided taken from the refs."""
    rows = table.take([ref.row for ref in refs])
    for column in columns:
        values = pa.array([getattr(ref, column) for ref in refs], rows.schema.field(column).type)
        rows = rows.set_column(rows.schema.get_field_index(column), column, values)
    return rows


class WriteRejected(beam.PTransform):
    """DocRefs of stashed rejects -> their temporary files copied into OUT/rejected/; the paths.

    Copied, not moved, so a retried copy finds its file; `stash.remove_temporary` deletes them.
    """

    def __init__(self, out_dir: str):
        super().__init__()
        self.out_dir = out_dir

    def expand(self, refs):
        return (refs
                | "Files" >> beam.Map(lambda ref: ref.file)
                | "Distinct" >> beam.Distinct()
                | "Copy" >> beam.Map(self._copy))

    def _copy(self, path: str) -> str:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            data = f.read()   # not FileSystems.copy: a local copy does not create the folder
        final = f"{self.out_dir}/rejected/{_final_name(path)}"
        write_bytes(data, final)
        return final


def _final_name(temporary_path: str) -> str:
    return f"part-{FileSystems.split(temporary_path)[1]}"


def write_empty(folder: str, out_dir: str, signal_names: list[str], written: list[str]) -> list[str]:
    """OUT/<folder>/part-empty.parquet with the folder's schema when the job wrote no file there,
    so the folder always reads as a table."""
    prefix = f"{out_dir}/{folder}/"
    if any(path.startswith(prefix) for path in written):
        return []
    schema = document_schema(signal_names, rejected=folder == "rejected")
    return [write_table(schema.empty_table(), f"{prefix}part-empty.parquet")]


def write_table(table: pa.Table, path: str) -> str:
    """One zstd Parquet file through FileSystems (local, gs://, s3://), written in one piece."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(buf.getvalue())
    return path


def read_table(path: str, columns: list[str] | None = None) -> pa.Table:
    """A Parquet file through FileSystems, read in one piece."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return pq.read_table(io.BytesIO(f.read()), columns=columns)


def write_bytes(data: bytes, path: str) -> bytes:
    """Write one small file as is through FileSystems (local, gs://, s3://); returns `data` for a Map."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    return data


def read_texts(path: str):
    """The (id, text) of a written documents file, as Docs for the tokenization stage."""
    table = read_table(path, columns=["id", "text"])
    for doc_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist()):
        yield Doc(id=doc_id, url="", crawl_date="", text=text)
