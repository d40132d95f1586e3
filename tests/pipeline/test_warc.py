"""WARC reader: every real file runs, every record is one Page or one named skip."""
import gzip
import os
import re
import zlib
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeadersParser

from cc2gpt.pipeline.cli import new_pipeline
from cc2gpt.pipeline.curate import Curate
from cc2gpt.pipeline.options import parse_args
from cc2gpt.pipeline.read import ReadWarc
from cc2gpt.pipeline.warc import DEFAULT_RANGE_BYTES, _ReadRangeFn, byte_ranges, iter_warc

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
    with pytest.raises(Exception, match="nothing-here"):
        with TestPipeline() as p:
            _ = p | ReadWarc([str(tmp_path / "nothing-here*.warc.gz")])


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


# ---- byte ranges: each record read once, whatever the range size ----------

def edge_cases(folder: Path) -> list[Path]:
    """Files that stress range boundaries: damage, a cut-off end, other layouts (written to `folder`)."""
    data = (WARC / "dolma_wget_sample-0000.warc.gz").read_bytes()
    records = gzip_members(WARC / "real_pages_aeb_trafilatura.warc.gz", 12)
    damaged = bytearray(data)
    damaged[100_000:100_050] = bytes(50)
    bad_header = [r.replace(b"WARC/1.0", b"WXRC/1.0", 1) if i == 3 else r for i, r in enumerate(records)]
    cases = {
        "cut.warc.gz": data[:150_000],
        "corrupt_member.warc.gz": bytes(damaged),
        "bad_header.warc.gz": b"".join(gzip.compress(r) for r in bad_header),
        "junk_between.warc.gz": b"".join(gzip.compress(r) + b"junk" * 900 * (i > 1)
                                         for i, r in enumerate(records)),
        "two_records_in_a_member.warc.gz": b"".join(gzip.compress(b"".join(records[i:i + 1 + i % 2]))
                                                    for i in range(0, 12, 3)),
        "whole_file_gzip.warc.gz": gzip.compress(b"".join(records)),
        "plain.warc": b"".join(records),
        "junk.warc.gz": b"this is not a WARC file\n" * 50,
    }
    for name, content in cases.items():
        (folder / name).write_bytes(content)
    return [folder / name for name in cases]


def new_reader() -> _ReadRangeFn:
    reader = _ReadRangeFn(2_000_000)
    reader.setup()
    return reader


def read_range(path: Path, start: int, stop: int, split_after: int | None = None, reader=None):
    """(items, residual range) of one range as the runner's DoFn reads it; with `split_after`
    the runner splits half the rest off (Dataflow's dynamic rebalancing) after that many items."""
    tracker = OffsetRestrictionTracker(OffsetRange(start, stop))
    items, residual = [], None
    for item in (reader or new_reader()).process((str(path), start, stop), tracker=tracker):
        items.append(item.value if isinstance(item, beam.pvalue.TaggedOutput) else item)
        if len(items) == split_after:
            residual = (tracker.try_split(0.5) or (None, None))[1]
    tracker.check_done()
    return items, residual


def read_in_ranges(path: Path, range_bytes: int) -> list:
    items, reader = [], new_reader()  # one worker's reader: it probes each file's layout once
    for _, start, stop in byte_ranges(FileMetadata(str(path), path.stat().st_size), range_bytes):
        items += read_range(path, start, stop, reader=reader)[0]
    return items


def warcio_records(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in ArchiveIterator(f))


@pytest.mark.parametrize("range_bytes", [997, 7919, 100_000, DEFAULT_RANGE_BYTES])
@pytest.mark.parametrize("name", FILES)
def test_ranges_read_every_record_once(name, range_bytes):
    """997 and 7,919 bytes are smaller than most records: most ranges hold no record start."""
    path = WARC / name
    items = read_in_ranges(path, range_bytes)
    assert len(items) == warcio_records(path)
    assert items == list(iter_warc(str(path)))  # the same pages, byte for byte, in the same order


@pytest.mark.parametrize("range_bytes", [997, 7919, 100_000])
def test_ranges_of_damaged_and_odd_files_match_one_reader(tmp_path, range_bytes):
    for path in edge_cases(tmp_path):
        assert read_in_ranges(path, range_bytes) == list(iter_warc(str(path))), path.name


@pytest.mark.parametrize("split_after", [1, 5, 40])
def test_a_range_split_while_read_loses_and_repeats_nothing(tmp_path, split_after):
    files = [WARC / "real_pages_aeb_trafilatura.warc.gz", WARC / "cc-main-2020-34_sample.warc.gz",
             *edge_cases(tmp_path)]
    for path in files:
        whole = list(iter_warc(str(path)))
        items, residual = read_range(path, 0, path.stat().st_size, split_after)
        splittable = path.name not in ("whole_file_gzip.warc.gz", "plain.warc", "junk.warc.gz")
        assert (residual is not None) == (splittable and len(whole) > split_after), path.name
        if residual is not None:
            items += read_range(path, residual.start, residual.stop)[0]
        assert items == whole, path.name


def test_a_file_without_a_member_per_record_is_read_whole_by_its_first_range(tmp_path, caplog):
    cases = {path.name: path for path in edge_cases(tmp_path)}
    for name in ("whole_file_gzip.warc.gz", "plain.warc"):
        path = cases[name]
        caplog.clear()
        assert read_range(path, 0, 1000)[0] == list(iter_warc(str(path)))
        assert read_range(path, 1000, path.stat().st_size)[0] == []
        assert [r.message for r in caplog.records if "one worker reads it whole" in r.message
                and str(path) in r.message and r.levelname == "WARNING"]


def test_byte_ranges_cover_each_file_with_at_least_one_range_per_worker():
    def ranges(size, range_bytes, workers=1):
        return [(a, b) for _, a, b in byte_ranges(FileMetadata("f", size), range_bytes, workers)]
    assert ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert ranges(10, 64, workers=2) == [(0, 5), (5, 10)]
    assert ranges(1000, 100, workers=2) == ranges(1000, 100)
    assert ranges(0, 64) == []


def test_read_warc_spreads_ranges_over_two_workers_and_reads_overlapping_globs_once():
    files = sorted(WARC.glob("*.warc.gz"))
    expected = [page["id"] for path in files for page in iter_warc(str(path)) if isinstance(page, dict)]
    with new_pipeline(["--direct_running_mode=multi_processing", "--direct_num_workers=2"]) as p:
        out = p | ReadWarc([str(WARC / "*.warc.gz"), str(WARC / "cc*.warc.gz")], range_bytes=20_000)
        assert_that(out["pages"] | beam.Map(lambda page: page["id"]), equal_to(expected))
        readers = (out["pages"] | beam.Map(lambda _: os.getpid()) | beam.Distinct()
                   | beam.combiners.Count.Globally())
        assert_that(readers, equal_to([2]), label="both workers read pages")
    records = [c.committed for c in p.result.metrics().query()["counters"] if c.key.metric.name == "records"]
    assert sum(records) == sum(warcio_records(path) for path in files)


def test_pages_never_leave_the_worker_that_read_them(tmp_path):
    """On the local runner the page PCollection is never written to a runner buffer (a shuffle or a
    materialized PCollection): reading, the URL filter, extraction, language ID and the quality filters run as one fused stage."""
    config, beam_args = parse_args(["--input", str(WARC / "*.warc.gz"), "--output", str(tmp_path)])
    p = new_pipeline(beam_args)
    _ = p | "Curate" >> Curate(config)
    proto = p.to_runner_api()
    read = next(t for t in proto.components.transforms.values()
                if t.unique_name == "Curate/ReadWarc/ReadRecords")
    pages = read.outputs["None"]  # the main output
    _, stages = p.runner.create_stages(proto)
    (reader,) = [s for s in stages if any(t.unique_name.startswith("Curate/ReadWarc/ReadRecords/")
                                          and t.unique_name.endswith("/Process") for t in s.transforms)]
    fused = {t.unique_name.split("/")[1] for t in reader.transforms}
    assert {"ReadWarc", "URLFilter", "Extract", "LanguageID", "FiltersAndRewriters"} <= fused
    buffered = {pc for s in stages for t in s.transforms if t.spec.urn == "beam:runner:sink:v1"
                for pc in t.inputs.values()}
    assert pages not in buffered
