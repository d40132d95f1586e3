"""Text datasets as curation input: Parquet, JSONL, plain-text and WET files -> Docs.

Extraction is skipped for these: `pipeline.read.ReadWarc` reads them beside the WARC files,
in the same step, and their documents flow through the same fused stages as
pages (the URL filter applies to a document with a URL, the extraction stage
passes them on). The format comes from the file name:

  .parquet              a string `text` column, optional `id`, `url`, `crawl_date`;
                        read in groups of row groups of about the read range size
  .jsonl, .jsonl.gz     one JSON object per line with a `text` key, optional `id`,
                        `url`, `crawl_date`; a plain file is read in byte ranges
                        (each range reads the lines that start in it), a .gz whole
  .txt                  UTF-8 (else Windows-1252), line endings made `\\n`; cut into
                        documents of about `txt_doc_bytes` characters at a paragraph
                        break (blank line), or at a line break in text without one
                        (a short tail joins the piece before);
                        the id is the file's path, `path#k` for the k-th piece of a
                        longer file; 0 keeps every file one document. Read whole.
  .wet.gz, .wet         Common Crawl WET: each `conversion` record is a document
                        (id: its WARC-Record-ID, url: WARC-Target-URI, crawl_date:
                        WARC-Date). Read whole by one worker.

A row without an id gets `path#row` (Parquet) or `path@offset` (JSONL), stable
however the file is split. Every row or record is counted: a document, or a
named skip. Skip reasons:

  empty_text      no text (null, empty or whitespace only)
  bad_json        a JSONL line that is not a JSON object, or whose text is not a string
  no_text         a JSONL object without a `text` key
  not_conversion  a WET record other than `conversion` (warcinfo)
  bad_encoding    a WET record whose text is not UTF-8
  bad_record      a damaged WET file (the rest of it is one skip)

A Parquet file without a string `text` column, or a JSONL file whose first
object has no `text` key, fails the job with an error naming the file.
"""
from __future__ import annotations

import json
import re
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from fastwarc.warc import ArchiveIterator, WarcRecordType

from cc2gpt.pipeline.doc import Doc
from cc2gpt.pipeline.warc import byte_ranges, record_id

DEFAULT_TXT_DOC_BYTES = 8192  # .txt files are cut into documents of about this size
_FORMATS = ((".parquet", "parquet"), (".jsonl", "jsonl"), (".jsonl.gz", "jsonl"), (".txt", "txt"),
            (".wet.gz", "wet"), (".wet", "wet"))
_OPTIONAL = ("id", "url", "crawl_date")
_PARAGRAPH = re.compile(r"\n(?:[ \t]*\n)+")  # a blank line (or several)


def text_format(path: str) -> str | None:
    """"parquet", "jsonl", "txt" or "wet" for a text-dataset file name, None for anything else (WARC)."""
    name = path.lower()
    return next((kind for suffix, kind in _FORMATS if name.endswith(suffix)), None)


def open_input(path: str, compressed: bool = False):
    return FileSystems.open(path, compression_type=CompressionTypes.AUTO if compressed
                            else CompressionTypes.UNCOMPRESSED)


def text_splits(file, range_bytes: int, min_ranges: int = 1) -> Iterator[tuple[str, int, int]]:
    """(path, start, stop) pieces of one matched text file (a FileMetadata): row-group index
    ranges of a Parquet file, byte ranges of a plain JSONL file, (0, size) for a file read whole.

    The file's schema is checked here, so a file without text fails before any is read.
    """
    path, kind = file.path, text_format(file.path)
    if kind == "parquet":
        with open_input(path) as f:
            meta = _parquet_file(f, path).metadata
        start, size = 0, 0
        for i in range(meta.num_row_groups):
            size += meta.row_group(i).total_byte_size
            if size >= range_bytes or i == meta.num_row_groups - 1:
                yield path, start, i + 1
                start, size = i + 1, 0
        return
    if kind == "jsonl":
        _check_jsonl(path)
        if not path.lower().endswith(".gz"):
            yield from byte_ranges(file, range_bytes, min_ranges)
            return
    if file.size_in_bytes:
        yield path, 0, file.size_in_bytes


def _parquet_file(f, path: str) -> pq.ParquetFile:
    """The open Parquet file, refused unless it has a string `text` column."""
    pf = pq.ParquetFile(f)
    schema = pf.schema_arrow
    if "text" not in schema.names:
        raise ValueError(f"{path}: no `text` column (columns: {', '.join(schema.names)})")
    kind = schema.field("text").type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise ValueError(f"{path}: the `text` column is {kind}, not a string")
    return pf


def _check_jsonl(path: str) -> None:
    """Refuse a JSONL file whose first JSON object has no `text` key."""
    with open_input(path, compressed=True) as f:
        for line in iter(f.readline, b""):
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                if "text" not in row:
                    raise ValueError(f"{path}: its first JSON object has no `text` key "
                                     f"(keys: {', '.join(row)})")
                return


def _doc(row: dict, default_id: str) -> Doc | str:
    """A Doc from a row's text and optional id, url, crawl_date; or the skip `empty_text`."""
    text = row.get("text")
    if text is None or not text.strip():
        return "empty_text"
    meta = {k: "" if row.get(k) is None else str(row[k]) for k in _OPTIONAL}
    return Doc(id=meta["id"] or default_id, url=meta["url"], crawl_date=meta["crawl_date"], text=text)


def read_parquet(f, path: str, start: int, stop: int) -> Iterator[Doc | str]:
    """Docs (or skip reasons) of row groups [start, stop) of an open Parquet file."""
    pf = _parquet_file(f, path)
    row = sum(pf.metadata.row_group(i).num_rows for i in range(start))
    columns = [c for c in ("text", *_OPTIONAL) if c in pf.schema_arrow.names]
    for batch in pf.iter_batches(row_groups=range(start, stop), columns=columns, batch_size=1024):
        for values in batch.to_pylist():
            yield _doc(values, f"{path}#{row}")
            row += 1


def read_jsonl(f, path: str, start: int = 0, stop: int | None = None) -> Iterator[Doc | str]:
    """Docs (or skip reasons) of the lines of an open JSONL file that start in [start, stop)."""
    offset = 0
    if start > 0:
        f.seek(start - 1)
        offset = start - 1 + len(f.readline())  # the first line that starts at or after `start`
    while stop is None or offset < stop:
        line = f.readline()
        if not line:
            return
        here, offset = offset, offset + len(line)
        if not line.strip():
            continue  # a blank line is no record
        try:
            row = json.loads(line)
        except ValueError:
            yield "bad_json"
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text", ""), (str, type(None))):
            yield "bad_json"
        elif "text" not in row:
            yield "no_text"
        else:
            yield _doc(row, f"{path}@{here}")


def decode_text(data: bytes) -> str:
    """A text file's characters: UTF-8, else Windows-1252; line endings made `\\n`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_text(text: str, doc_chars: int) -> list[str]:
    """`text` cut into pieces of about `doc_chars` characters that join back into it.

    A piece ends at the first paragraph break (blank line) after `doc_chars`
    characters, or at the first line break when none comes within another
    `doc_chars`; a text without either stays whole, and a last piece under a
    quarter of `doc_chars` joins the one before. `doc_chars` 0: one piece.
    """
    pieces, start = [], 0
    while doc_chars > 0 and len(text) - start > doc_chars:
        at = start + doc_chars
        brk = _PARAGRAPH.search(text, at, at + doc_chars)
        cut = brk.end() if brk else text.find("\n", at) + 1
        if cut <= 0 or cut >= len(text):
            break
        pieces.append(text[start:cut])
        start = cut
    rest = text[start:]
    if pieces and len(rest.strip()) < doc_chars // 4:
        pieces[-1] += rest  # a short tail (a closing line, blank lines) stays with the piece before
    else:
        pieces.append(rest)
    return pieces


def txt_documents(path: str, data: bytes, doc_chars: int = DEFAULT_TXT_DOC_BYTES) -> list[tuple[str, str]]:
    """(id, text) of the documents of one .txt file: `path` when it is one piece, else `path#k`."""
    pieces = split_text(decode_text(data), doc_chars)
    if len(pieces) == 1:
        return [(path, pieces[0])]
    return [(f"{path}#{k}", piece) for k, piece in enumerate(pieces)]


def read_txt(f, path: str, doc_chars: int) -> Iterator[Doc | str]:
    for doc_id, text in txt_documents(path, f.read(), doc_chars):
        yield _doc({"id": doc_id, "text": text}, doc_id)


def read_wet(f, path: str) -> Iterator[Doc | str]:
    """Docs (or skip reasons) of the records of an open WET file."""
    try:
        for record in ArchiveIterator(f, record_types=WarcRecordType.any_type, parse_http=False,
                                      fsspec_args=False):
            if record.record_type != WarcRecordType.conversion:
                yield "not_conversion"
                continue
            headers = record.headers
            try:
                text = record.reader.read().decode("utf-8")
            except UnicodeDecodeError:
                yield "bad_encoding"
                continue
            yield _doc({"text": text, "url": headers.get("WARC-Target-URI"),
                        "crawl_date": headers.get("WARC-Date")},
                       record_id(headers.get("WARC-Record-ID") or f"{path}@{record.stream_pos}"))
    except (OSError, ValueError):
        yield "bad_record"


def read_piece(path: str, start: int, stop: int, txt_doc_bytes: int = DEFAULT_TXT_DOC_BYTES
               ) -> Iterator[Doc | str]:
    """Docs (or skip reasons) of one piece of a text file, as `text_splits` made it."""
    kind = text_format(path)
    with open_input(path, compressed=kind == "jsonl") as f:
        if kind == "parquet":
            yield from read_parquet(f, path, start, stop)
        elif kind == "jsonl":
            yield from read_jsonl(f, path, start, None if path.lower().endswith(".gz") else stop)
        elif kind == "txt":
            yield from read_txt(f, path, txt_doc_bytes)
        else:
            yield from read_wet(f, path)
