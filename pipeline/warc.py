"""Read WARC files into Pages: one Page or one named skip reason per record.

fastwarc parses the records (and detects gzip itself); files are opened through
Beam's FileSystems so local paths, gs:// and s3:// all work. Real archives are
messy, so every oddity becomes a counted skip instead of an exception:

  not_response  warcinfo, request, metadata, resource, ... records
  revisit       revisit records (no payload of their own)
  not_http      response records whose WARC Content-Type names another
                protocol than HTTP (Heritrix's `dns:` lookups: `text/dns`)
  bad_record    unparsable HTTP status line or headers, or a damaged stretch
                of the file (bad WARC headers, corrupt gzip member): reading
                resumes at the next record that parses
  http_status   HTTP status other than 200
  not_html      neither Content-Type nor WARC-Identified-Payload-Type says html
  oversized     payload (raw or decoded) larger than max_page_bytes
  bad_encoding  unknown or corrupt transfer/content encoding
  truncated     payload shorter than its declared length, or the file ends
                inside a record (a cut-off file)
"""
from __future__ import annotations

import io
from typing import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from fastwarc.stream_io import BrotliReader, ChunkedReader, GzipReader
from fastwarc.warc import ArchiveIterator, WarcRecordType

DEFAULT_MAX_PAGE_BYTES = 2 * 1024 * 1024

# Content-Encoding / Transfer-Encoding values we can undo, and the fastwarc
# reader that undoes each (identity needs nothing).
_DECODERS = {
    "gzip": lambda f: GzipReader(f, fsspec_args=False),
    "x-gzip": lambda f: GzipReader(f, fsspec_args=False),
    "deflate": lambda f: GzipReader(f, zlib=True, fsspec_args=False),
    "br": lambda f: BrotliReader(f, fsspec_args=False),
    "chunked": lambda f: ChunkedReader(f, fsspec_args=False),
}
_IDENTITY = {"", "identity", "none", "utf-8", "utf8"}


class Skip(Exception):
    """A record that is not a candidate page; the message is the skip reason."""


def _strip_brackets(value: str) -> str:
    # WARC/0.18-era writers (old wget) wrap URIs and ids in angle brackets.
    return value.strip().removeprefix("<").removesuffix(">")


def record_id(raw: str) -> str:
    """`<urn:uuid:XXXX>` -> `XXXX` (other id schemes are kept as they are)."""
    return _strip_brackets(raw).removeprefix("urn:uuid:")


def _looks_like_markup(body: bytes) -> bool:
    return body.lstrip()[:1] == b"<"


def _decode(body: bytes, encodings: list[str], max_bytes: int) -> bytes:
    """Undo transfer and content encodings (applied in the listed order), capped.

    Some crawlers store the decoded payload but keep the encoding header; a
    body that fails to decode yet already starts with markup is kept as is.
    """
    for name in reversed(encodings):  # the last applied is undone first
        if name in _IDENTITY:
            continue
        decoder = _DECODERS.get(name)
        try:
            if decoder is None:
                raise ValueError(f"unknown encoding {name!r}")
            decoded = decoder(io.BytesIO(body)).read(max_bytes + 1)
        except (OSError, ValueError) as e:
            if _looks_like_markup(body):
                return body
            raise Skip("bad_encoding") from e
        if len(decoded) > max_bytes:  # a decompression bomb stops here
            raise Skip("oversized")
        body = decoded
    return body


def _encodings(http_headers) -> list[str]:
    """Encodings in the order they were applied: content first, then transfer."""
    names = []
    for header in ("Content-Encoding", "Transfer-Encoding"):
        for value in http_headers.get_multiple(header) or []:
            names += [v.strip().lower() for v in value.split(",") if v.strip()]
    return names


def _unparsed(record) -> str:
    """Why a response's payload is no HTTP message: `not_http` when the record says it holds
    another protocol's (Heritrix's `dns:` lookups are `text/dns`), else `bad_record`."""
    declared = (record.headers.get("Content-Type") or "").lower()
    return "not_http" if declared and "application/http" not in declared else "bad_record"


def record_to_page(record, source: str, max_page_bytes: int) -> dict:
    """One WARC record -> a Page dict, or raise Skip(reason)."""
    kind = record.record_type
    if kind == WarcRecordType.revisit:
        raise Skip("revisit")
    if kind != WarcRecordType.response:
        raise Skip("not_response")
    try:
        record.parse_http(auto_decode="none")
    except (OSError, ValueError) as e:
        raise Skip(_unparsed(record)) from e
    http = record.http_headers
    if http is None or http.status_code is None:
        raise Skip(_unparsed(record))
    if http.status_code != 200:
        raise Skip("http_status")
    content_type = http.get("Content-Type") or ""
    # Common Crawl also records the type it sniffed from the payload; servers
    # often send HTML as text/plain or with no Content-Type at all.
    sniffed = record.headers.get("WARC-Identified-Payload-Type") or ""
    if "html" not in f"{content_type} {sniffed}".lower():
        raise Skip("not_html")
    declared = record.content_length  # payload bytes left after the HTTP headers
    if declared > max_page_bytes:
        raise Skip("oversized")
    try:
        body = record.reader.read()
    except OSError as e:
        raise Skip("truncated") from e
    if len(body) < declared:
        raise Skip("truncated")
    html = _decode(body, _encodings(http), max_page_bytes)
    headers = record.headers
    return {
        # a record without an id (broken writer) still needs a stable, unique one
        "id": record_id(headers.get("WARC-Record-ID") or f"{source}@{record.stream_pos}"),
        "url": _strip_brackets(headers.get("WARC-Target-URI") or ""),
        "crawl_date": headers.get("WARC-Date") or "",
        "html": html,
        "content_type": content_type,
        "source": source,
    }


def iter_warc(path: str, max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES) -> Iterator[dict | str]:
    """Yield a Page dict or a skip reason (str) for every record of one file.

    fastwarc stops for good at the first record it cannot parse, so after a
    damaged stretch reading starts again at the next offset where a record
    parses (`_next_record`): one `bad_record` skip stands for the stretch and
    the records after it are kept. A truncated payload may hide a wrong
    Content-Length, so reading resumes after it too. With no record left, a
    damaged end is one `truncated` skip (a cut-off file).
    """
    with FileSystems.open(path, compression_type="uncompressed") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
        start, last = 0, -1  # where this pass began; offset of the last record read
        while True:
            f.seek(start)
            damaged = False
            try:
                for record in _records(f):
                    last = record.stream_pos
                    try:
                        yield record_to_page(record, path, max_page_bytes)
                    except Skip as skip:
                        yield str(skip)
                        if str(skip) == "truncated":
                            break
                else:
                    return
            except (OSError, ValueError):
                damaged = True
            start = _next_record(f, max(start, last) + 1, gzipped)
            if damaged:
                yield "bad_record" if start is not None else "truncated"
            if start is None:
                return


def _records(f):
    """fastwarc's record iterator over `f` from its current offset: every record type, HTTP unparsed."""
    return ArchiveIterator(f, record_types=WarcRecordType.any_type, parse_http=False, fsspec_args=False)


def _next_record(f, offset: int, gzipped: bool) -> int | None:
    """The first offset at or after `offset` where a WARC record parses, or None.

    Candidates are gzip member headers in a .gz file (one record per member, as
    Common Crawl writes them) and `WARC/1.` lines in a plain one.
    """
    magic, skip = (b"\x1f\x8b\x08", 0) if gzipped else (b"\nWARC/1.", 1)
    pos, tail = offset, b""
    while True:
        f.seek(pos)
        chunk = f.read(1 << 20)
        if not chunk:
            return None
        buf, base = tail + chunk, pos - len(tail)
        found = buf.find(magic)
        while found != -1:
            candidate = base + found + skip
            f.seek(candidate)
            try:
                next(_records(f))
                return candidate
            except (OSError, ValueError, StopIteration):
                found = buf.find(magic, found + 1)
        pos, tail = pos + len(chunk), buf[-(len(magic) - 1):]


class _ReadWarcFn(beam.DoFn):
    """Path -> Pages (main output) and skip reasons (tagged "skipped")."""

    def __init__(self, max_page_bytes: int):
        self.max_page_bytes = max_page_bytes
        self.records = Metrics.counter("warc", "records")
        self.pages = Metrics.counter("warc", "pages")

    def process(self, path: str):
        for item in iter_warc(path, self.max_page_bytes):
            self.records.inc()
            if isinstance(item, str):
                Metrics.counter("warc", f"skipped_{item}").inc()
                yield beam.pvalue.TaggedOutput("skipped", item)
            else:
                self.pages.inc()
                yield item


def match_files(patterns: list[str]) -> list[str]:
    """Expand glob patterns (any FileSystems scheme); a pattern matching nothing is an error."""
    paths = []
    for pattern, result in zip(patterns, FileSystems.match(list(patterns))):
        found = sorted(m.path for m in result.metadata_list)
        if not found:
            raise FileNotFoundError(f"no WARC file matches {pattern!r}")
        paths += found
    return sorted(set(paths))


class ReadWarc(beam.PTransform):
    """PBegin -> {"pages": PCollection[Page], "skipped": PCollection[str]}."""

    def __init__(self, patterns: list[str], max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES):
        super().__init__()
        self.patterns = list(patterns)
        self.max_page_bytes = max_page_bytes

    def expand(self, pbegin):
        out = (pbegin
               | "ListFiles" >> beam.Create(match_files(self.patterns))
               | "SpreadFiles" >> beam.Reshuffle()
               | "ReadRecords" >> beam.ParDo(_ReadWarcFn(self.max_page_bytes))
               .with_outputs("skipped", main="pages"))
        # One WARC file holds thousands of pages: spread them so extraction,
        # the costly step, runs on every worker, not only on the file's reader.
        pages = out.pages | "SpreadPages" >> beam.Reshuffle()
        return {"pages": pages, "skipped": out.skipped}
