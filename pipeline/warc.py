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

Large files are read in parallel without moving pages between workers:
`byte_ranges` cuts each file into byte ranges and a splittable DoFn reads each
range where it lands (`pipeline.read.ReadWarc` runs them). Common Crawl writes
one gzip member per record, so a range starts at the first member at or after
its offset that inflates to a WARC record (a gzip header, 1f 8b 08, that parses
as one) and reads every record whose member starts inside it: each record is
read by exactly one range, and damage is counted by the range that read the
record before it. A file laid out otherwise (plain, or gzipped as a whole) is
read whole by one range.
"""
from __future__ import annotations

import io
import logging
import zlib
from typing import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider
from fastwarc.stream_io import BrotliReader, ChunkedReader, GzipReader
from fastwarc.warc import ArchiveIterator, WarcRecordType

DEFAULT_MAX_PAGE_BYTES = 2 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b\x08"  # gzip's id bytes and its one method, deflate
DEFAULT_RANGE_BYTES = 64 * 1024 * 1024  # the byte ranges a file is read in (initial splits)
PROBE_BYTES = 8 * 1024 * 1024  # how far the layout probe follows a file's first gzip member
_LOG = logging.getLogger(__name__)

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
    """Yield a Page dict or a skip reason (str) for every record of one file."""
    with FileSystems.open(path, compression_type="uncompressed") as f:
        yield from read_records(f, path, max_page_bytes)


def read_records(f, source: str, max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES, start: int = 0,
                 claim=None) -> Iterator[dict | str]:
    """Yield a Page dict or a skip reason (str) for every record of the open file `f` from `start` on.

    From a `start` past 0, reading begins at the first record at or after it
    (`_next_record`). `claim(offset)` is asked before each new record offset (a
    gzip member's in a .gz file) and reading stops at the first it refuses: a
    byte range reads the records that start in it, whatever their length.

    fastwarc stops for good at the first record it cannot parse, so after a
    damaged stretch reading starts again at the next offset where a record
    parses (`_next_record`): one `bad_record` skip stands for the stretch and
    the records after it are kept. A truncated payload may hide a wrong
    Content-Length, so reading resumes after it too. With no record left, a
    damaged end is one `truncated` skip (a cut-off file). Both belong to the
    record read before them, so a range reports the damage after its last record.
    """
    f.seek(0)
    gzipped = f.read(2) == GZIP_MAGIC[:2]
    if start > 0:
        start = _next_record(f, start, gzipped)
    claimed, last = -1, -1  # the last offset claimed; the offset of the last record read
    while start is not None:
        f.seek(start)
        damaged = False
        try:
            for record in _records(f):
                if claim is not None and record.stream_pos > claimed:
                    if not claim(record.stream_pos):
                        return
                    claimed = record.stream_pos
                last = record.stream_pos
                try:
                    yield record_to_page(record, source, max_page_bytes)
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


def _records(f):
    """fastwarc's record iterator over `f` from its current offset: every record type, HTTP unparsed."""
    return ArchiveIterator(f, record_types=WarcRecordType.any_type, parse_http=False, fsspec_args=False)


def _next_record(f, offset: int, gzipped: bool) -> int | None:
    """The first offset at or after `offset` where a WARC record parses, or None.

    Candidates are gzip member headers in a .gz file (one record per member, as
    Common Crawl writes them) and `WARC/1.` lines in a plain one.
    """
    magic, skip = (GZIP_MAGIC, 0) if gzipped else (b"\nWARC/1.", 1)
    pos, tail = offset, b""
    while True:
        f.seek(pos)
        chunk = f.read(1 << 16)
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


def _member(f, offset: int, to_end: bool = True) -> tuple[bytes, int | None] | None:
    """(first 5 inflated bytes, end offset) of the gzip member at `offset`, or None if none is there.

    With `to_end` False the end is not looked for (None). A member that is
    damaged or longer than PROBE_BYTES has no end (None) either.
    """
    f.seek(offset)
    inflater, head, pos = zlib.decompressobj(31), b"", offset
    try:
        while not inflater.eof and (to_end or len(head) < 5) and pos - offset < PROBE_BYTES:
            data = f.read(1 << 16)
            if not data:
                break
            pos += len(data)
            while data and not inflater.eof:  # bounded output: a bomb stays a bomb on disk
                head += inflater.decompress(data, 1 << 16)[:5 - len(head)]
                data = inflater.unconsumed_tail
    except zlib.error:
        return None
    if not head:
        return None
    return head, (pos - len(inflater.unused_data) if inflater.eof else None)


def one_record_per_member(f) -> bool:
    """True if the file's first two gzip members each start a WARC record: the layout
    of Common Crawl and most crawlers, where any member start is a record start."""
    first = _member(f, 0)
    if first is None or first[1] is None or not first[0].startswith(b"WARC/"):
        return False
    second = _member(f, first[1], to_end=False)
    return second is not None and second[0].startswith(b"WARC/")


def byte_ranges(file, range_bytes: int, min_ranges: int = 1) -> Iterator[tuple[str, int, int]]:
    """(path, start, stop) ranges of `range_bytes` that cover one matched file (a FileMetadata);
    at least `min_ranges` of them if the file is smaller than that many ranges."""
    size = file.size_in_bytes
    step = max(1, min(range_bytes, -(-size // min_ranges)))
    for start in range(0, size, step):
        yield file.path, start, min(start + step, size)


class _ByteRange(RestrictionProvider):
    """The restriction of a (path, start, stop) element: OffsetRange(start, stop) of the file's bytes."""

    def initial_restriction(self, element):
        return OffsetRange(element[1], element[2])

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()


class _ReadRangeFn(beam.DoFn):
    """A byte range of a WARC file -> Pages (main output) and skip reasons (tagged "skipped").

    A splittable DoFn: in a file with one gzip member per record the range
    reads the records whose member starts in it, claiming each member's offset,
    so a runner can split the rest of a range off while it is read (Dataflow's
    dynamic work rebalancing). Any other file (plain, or gzipped as a whole) is
    read whole by the range that starts at 0, which claims its range up front
    so it is never split; the other ranges of that file read nothing.
    """

    def __init__(self, max_page_bytes: int):
        self.max_page_bytes = max_page_bytes
        self.records = Metrics.counter("warc", "records")
        self.pages = Metrics.counter("warc", "pages")

    def setup(self):
        self.layouts = {}  # path -> one_record_per_member, probed once per file, not per range

    def process(self, element, tracker=beam.DoFn.RestrictionParam(_ByteRange())):
        path, start = element[0], tracker.current_restriction().start
        refused = []

        def claim(offset: int) -> bool:
            if tracker.try_claim(offset):
                return True
            refused.append(offset)
            return False

        with FileSystems.open(path, compression_type="uncompressed") as f:
            if path not in self.layouts:
                self.layouts[path] = one_record_per_member(f)
            if self.layouts[path]:
                items = read_records(f, path, self.max_page_bytes, start, claim)
            elif start == 0:
                _LOG.warning("%s: no gzip member per record at its start (a plain or whole-file "
                             "gzip WARC?): one worker reads it whole", path)
                claim(tracker.current_restriction().stop - 1)  # all of it: no split
                items = read_records(f, path, self.max_page_bytes)
            else:
                items = ()
            for item in items:
                yield self._count(item)
        if not refused:  # no record starts in the rest of the range: mark it done
            tracker.try_claim(tracker.current_restriction().stop)

    def _count(self, item):
        self.records.inc()
        if isinstance(item, str):
            Metrics.counter("warc", f"skipped_{item}").inc()
            return beam.pvalue.TaggedOutput("skipped", item)
        self.pages.inc()
        return item
