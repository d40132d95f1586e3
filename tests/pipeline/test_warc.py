"""WARC reader: every real file runs, every record is one Page or one named skip."""
import gzip
import re
import zlib
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeadersParser

from cc2gpt.pipeline.warc import ReadWarc, iter_warc, match_files

WARC = Path(__file__).resolve().parents[2] / "../shared/data/warc"
FILES = sorted(p.name for p in WARC.glob("*.warc.gz"))
# warcio reads the cut-off record's headers (a 200 HTML page) and never its payload,
# which ends 70 kB before its declared Content-Length: the reader's `truncated`.
CUT_OFF = {"cc_clipped_truncated_record.warc.gz": (0, {"truncated": 1})}


def warcio_reference(path: Path) -> tuple[int, dict]:
    """(pages, skips by reason): the reader's rules applied to warcio's parse of the file, an
    independent reader. (oversized, bad_encoding and truncated need payloads: none here.)"""
    pages, skips = 0, Counter()
    with open(path, "rb") as f:
        for r in ArchiveIterator(f):
            declared = r.rec_headers.get_header("Content-Type") or "application/http"
            if r.rec_type == "revisit":
                reason = "revisit"
            elif r.rec_type != "response":
                reason = "not_response"
            elif "application/http" not in declared:
                reason = "not_http"
            else:  # warcio leaves HTTP unparsed for URIs it does not know as HTTP ("hard::...")
                http = r.http_headers or StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1"]).parse(r.raw_stream)
                sniffed = r.rec_headers.get_header("WARC-Identified-Payload-Type") or ""
                if http.get_statuscode() != "200":
                    reason = "http_status"
                elif "html" not in f"{http.get_header('Content-Type') or ''} {sniffed}".lower():
                    reason = "not_html"
                else:
                    pages += 1
                    continue
            skips[reason] += 1
    return pages, dict(skips)


def read_all(path, **kw):
    items = list(iter_warc(str(path), **kw))
    return [i for i in items if isinstance(i, dict)], Counter(i for i in items if isinstance(i, str))


@pytest.mark.parametrize("name", FILES)
def test_each_real_file_reads_as_warcio_reads_it(name):
    pages, skips = read_all(WARC / name)
    expected = CUT_OFF.get(name) or warcio_reference(WARC / name)
    assert (len(pages), dict(skips)) == expected
    for page in pages:
        assert set(page) == {"id", "url", "crawl_date", "html", "content_type", "source"}
        assert page["id"] and "urn:uuid" not in page["id"] and "<" not in page["id"]
        assert page["url"] and page["crawl_date"][:2] in ("19", "20")
        assert b"<" in page["html"]


@pytest.mark.parametrize("encoding", ["gzip", "brotli"])
def test_transfer_encodings_are_decoded(encoding):
    (page,), _ = read_all(WARC / f"wget_2020_transfer_compression_{encoding}.warc.gz")
    assert page["html"].startswith(b"<html>") and b"<title>Simple page</title>" in page["html"]
    assert page["url"] == "http://tokemon.sb.statsbiblioteket.dk/"  # angle brackets stripped


def test_chunked_bodies_are_decoded():
    pages, _ = read_all(WARC / "dolma_wget_sample-0001.warc.gz")
    for page in pages:  # a chunk-size line would sit before the markup
        assert page["html"].lstrip()[:1] == b"<"


def test_oversized_pages_are_counted_not_read():
    pages, skips = read_all(WARC / "cc-main-2020-34_sample.warc.gz", max_page_bytes=20_000)
    assert skips["oversized"] > 0 and len(pages) + skips["oversized"] == 16
    assert all(len(p["html"]) <= 20_000 for p in pages)


def test_cut_off_file_keeps_records_before_the_cut(tmp_path):
    data = (WARC / "dolma_wget_sample-0000.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[:150_000])
    pages, skips = read_all(cut)
    assert len(pages) == 20 and skips["truncated"] == 1


def test_plain_uncompressed_warc(tmp_path):
    plain = tmp_path / "plain.warc"
    plain.write_bytes(gzip.decompress((WARC / "dolma_wget_sample-0000.warc.gz").read_bytes()))
    pages, skips = read_all(plain)
    assert (len(pages), dict(skips)) == warcio_reference(WARC / "dolma_wget_sample-0000.warc.gz")


def test_garbage_and_corrupt_bytes_never_raise(tmp_path):
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"this is not a WARC file\n" * 50)
    assert read_all(junk)[1] == Counter({"truncated": 1})
    data = bytearray((WARC / "dolma_wget_sample-0000.warc.gz").read_bytes())
    data[100_000:100_050] = bytes(50)  # inside one record's gzip member (a metadata record)
    junk.write_bytes(bytes(data))
    pages, skips = read_all(junk)
    assert len(pages) == 22 and skips == Counter({"not_response": 25, "bad_record": 1})


def gzip_members(path: Path, count: int) -> list[bytes]:
    """The first `count` decompressed gzip members of a Common Crawl-style WARC, one record each."""
    data, members = path.read_bytes(), []
    while len(members) < count:
        unpacker = zlib.decompressobj(31)
        members.append(unpacker.decompress(data))
        data = unpacker.unused_data
    return members


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.parametrize("damage, pages, skips", [
    (lambda r: r.replace(b"WARC/1.0", b"WXRC/1.0", 1), 9, {"bad_record": 1}),   # bad version line
    (lambda r: r.replace(b"\r\nWARC-Type: ", b"\r\nWARC-Type ", 1), 9, {"not_response": 1}),  # typeless
    (lambda r: re.sub(rb"Content-Length: (\d+)", lambda m: b"Content-Length: 9" + m[1], r, count=1),
     9, {"truncated": 1}),                                                      # too long
    (lambda r: re.sub(rb"Content-Length: (\d+)", lambda m: b"Content-Length: %d" % (int(m[1]) // 2), r,
                      count=1), 10, {"bad_record": 1}),                        # too short
])
def test_a_record_with_bad_headers_loses_nothing_else(tmp_path, gzipped, damage, pages, skips):
    records = gzip_members(WARC / "real_pages_aeb_trafilatura.warc.gz", 10)
    records[3] = damage(records[3])
    path = tmp_path / ("damaged.warc.gz" if gzipped else "damaged.warc")
    path.write_bytes(b"".join(gzip.compress(r) if gzipped else r for r in records))
    found, skipped = read_all(path)
    assert len(found) == pages and skipped == Counter(skips)
    kept = {page["url"] for page in found}
    assert all(url in kept for url in (re.search(rb"WARC-Target-URI: (\S+)", r)[1].decode()
                                       for i, r in enumerate(records) if i != 3))


def warc_record(http: bytes, extra: bytes = b"") -> bytes:
    return (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:1>\r\n" + extra +
            b"WARC-Target-URI: http://a.example/\r\nWARC-Date: 2020-01-01T00:00:00Z\r\n"
            b"Content-Type: application/http; msgtype=response\r\n"
            b"Content-Length: " + str(len(http)).encode() + b"\r\n\r\n" + http + b"\r\n\r\n")


OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"

# A Heritrix DNS lookup, as Internet Archive and British Library crawls store them.
DNS_RECORD = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: dns:www.archive.org\r\n"
              b"WARC-Date: 2008-04-30T20:48:25Z\r\nWARC-IP-Address: 68.87.76.178\r\n"
              b"WARC-Record-ID: <urn:uuid:ff728363-2d5f-4f5f-b832-9552de1a6037>\r\n"
              b"Content-Type: text/dns\r\nContent-Length: 56\r\n\r\n"
              b"20080430204825\nwww.archive.org.\t589\tIN\tA\t207.241.229.39\n\r\n\r\n")


def test_dns_lookups_are_not_http_not_damage(tmp_path):
    path = tmp_path / "heritrix.warc"
    path.write_bytes(DNS_RECORD + warc_record(OK_HEAD + b"\r\n<html>fine</html>"))
    items = list(iter_warc(str(path)))
    assert items[0] == "not_http" and items[1]["html"] == b"<html>fine</html>" and len(items) == 2
    assert warcio_reference(path) == (1, {"not_http": 1})   # warcio reads both records as sound


@pytest.mark.parametrize("http,expected", [
    (b"NOT-HTTP garbage\r\n\r\n<html>x</html>", "bad_record"),
    (b"HTTP/1.1 abc OK\r\nContent-Type: text/html\r\n\r\n<html>x</html>", "bad_record"),
    (b"\x00\x01garbage", "bad_record"),
    (OK_HEAD + b"Content-Encoding: gzip\r\n\r\n\x1f\x8b broken gzip", "bad_encoding"),
    (OK_HEAD + b"Content-Encoding: x-unknown\r\n\r\nbinary", "bad_encoding"),
    (OK_HEAD + b"Content-Encoding: gzip\r\n\r\n<html>stored decoded</html>",
     b"<html>stored decoded</html>"),
    (OK_HEAD + b"\r\n<html>fine</html>", b"<html>fine</html>"),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n<html>x</html>", "not_html"),
    (b"HTTP/1.1 200 OK\r\n\r\n<html>sniffed</html>", b"<html>sniffed</html>"),
])
def test_bad_http_records_are_named_skips(tmp_path, http, expected):
    path = tmp_path / "one.warc"
    sniffed = b"WARC-Identified-Payload-Type: text/html\r\n" if b"sniffed" in http else b""
    path.write_bytes(warc_record(http, sniffed))
    (item,) = list(iter_warc(str(path)))
    assert (item["html"] if isinstance(item, dict) else item) == expected


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        match_files([str(tmp_path / "nothing-here*.warc.gz")])


def test_read_warc_transform_outputs_pages_and_skips():
    files = [str(WARC / "warcio_example_with_revisit.warc.gz"),
             str(WARC / "wget_2020_transfer_compression_*.warc.gz")]
    with TestPipeline() as p:
        out = p | ReadWarc(files, max_page_bytes=1_000_000)
        assert_that(out["pages"] | beam.Map(lambda page: page["url"].split("/")[2]),
                    equal_to(["example.com"] + ["tokemon.sb.statsbiblioteket.dk"] * 2),
                    label="pages")
        assert_that(out["skipped"], equal_to(["not_response"] * 12 + ["revisit"]),
                    label="skips")


def test_record_without_id_gets_a_stable_unique_one(tmp_path):
    record = warc_record(OK_HEAD + b"\r\n<html>x</html>").replace(
        b"WARC-Record-ID: <urn:uuid:1>\r\n", b"")
    path = tmp_path / "noid.warc"
    path.write_bytes(record * 2)
    ids = [page["id"] for page in iter_warc(str(path))]
    assert ids == [f"{path}@0", f"{path}@{len(record)}"]
