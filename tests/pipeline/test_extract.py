"""Extraction stage: charsets, the per-page time/memory bound, and the Beam DoFn."""
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.extract import ExtractConfig, ExtractFn, token_f1
from pipeline.extract_worker import BoundedExtractor, ExtractFailed, decode_html
from pipeline.warc import iter_warc

ROOT = Path(__file__).resolve().parents[2]
WARC = ROOT / "../shared/data/warc"
MISBEHAVE = "tests.pipeline.slow_extractors:misbehave"


def test_decode_html_charsets():
    text = "Grüße aus Köln – café"
    assert decode_html(text.encode("utf-8"), "text/html; charset=iso-8859-1") == text  # mislabelled
    assert decode_html(text.encode("cp1252"), "text/html; charset=windows-1252") == text
    quoted = "\u201cQuoted\u201d caf\u00e9 \u2013 na\u00efve"  # labelled latin-1, written in cp1252
    assert decode_html(quoted.encode("cp1252"), "text/html; charset=ISO-8859-1") == quoted
    assert decode_html(f"<meta charset=us-ascii>{quoted}".encode("cp1252")).endswith(quoted)
    meta = '<meta charset="shift_jis"><p>日本語のテキストです</p>'
    assert decode_html(meta.encode("shift_jis")) == meta
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r"><p>Привет</p>'
    assert decode_html(meta.encode("koi8-r")) == meta
    assert decode_html("\ufeffbom".encode("utf-8")) == "bom"
    russian = "<p>Это обычный русский текст, в котором нет никакого объявления кодировки.</p>" * 5
    assert decode_html(russian.encode("cp1251")) == russian  # detection
    assert decode_html(b"bad \xff\xfe bytes", "text/html; charset=nonsense")  # never raises


@pytest.fixture
def extractor(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))  # the child imports tests.pipeline.slow_extractors
    ex = BoundedExtractor(timeout_s=2.0, options={"max_memory_mb": 1024}, spec=MISBEHAVE)
    yield ex
    ex.close()


def outcome(ex, html):
    try:
        return ex(html.encode())
    except ExtractFailed as failed:
        return str(failed)


def test_bounded_extractor_survives_every_failure(extractor):
    assert outcome(extractor, "hello") == "hello"
    first = extractor.proc.pid
    assert outcome(extractor, "RAISE") == "extract_error"
    assert outcome(extractor, "EMPTY") == "empty_text"
    assert extractor.proc.pid == first  # recoverable failures keep the child
    assert outcome(extractor, "HANG") == "extract_timeout"
    assert extractor.proc is None        # killed; the next page starts a fresh child
    assert outcome(extractor, "after the hang") == "after the hang"
    assert outcome(extractor, "CRASH") == "extract_crash"
    assert outcome(extractor, "HOG") in ("extract_memory", "extract_crash")
    assert outcome(extractor, "still alive") == "still alive"


def test_extract_fn_counts_a_hanging_page_and_goes_on(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    pages = [{"id": str(i), "url": f"http://a.example/{i}", "crawl_date": "2020", "source": "s",
              "content_type": "text/html", "html": html.encode()}
             for i, html in enumerate(["one", "HANG", "three"])]
    p = TestPipeline()
    out = (p | beam.Create(pages)
           | beam.ParDo(ExtractFn(ExtractConfig(timeout_s=1.0), spec=MISBEHAVE))
           .with_outputs("rejected", main="kept"))
    assert_that(out.kept | beam.Map(lambda d: (d.id, d.text)),
                equal_to([("0", "one"), ("2", "three")]), label="kept")
    assert_that(out.rejected | beam.Map(lambda d: (d.id, d.stage, d.reason, d.text)),
                equal_to([("1", "extract", "extract_timeout", "")]), label="rejected")
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed
                for c in result.metrics().query(MetricsFilter().with_namespace("extract"))["counters"]}
    assert counters == {"kept": 2, "extract_timeout": 1}


def test_output_does_not_depend_on_pages_seen_before():
    """trafilatura's deduplicate cache is process-wide (with it on, the 4th pass over
    these pages changes all three texts); with it off, a page extracts the same every time."""
    pages = [p for p in iter_warc(str(WARC / "dolma_wget_sample-0000.warc.gz")) if isinstance(p, dict)]
    ex = ExtractConfig().extractor()
    try:
        passes = [[ex(p["html"], p["content_type"], p["url"]) for p in pages[:3]] for _ in range(4)]
    finally:
        ex.close()
    assert all(texts == passes[0] for texts in passes)


@pytest.mark.parametrize("backend", ["trafilatura", "resiliparse"])
def test_real_pages_become_docs(backend):
    pages = [p for p in iter_warc(str(WARC / "cc-main-2020-34_sample.warc.gz")) if isinstance(p, dict)]
    config = ExtractConfig(backend=backend)
    ex = config.extractor()
    try:
        texts = [ex(p["html"], p["content_type"], p["url"]) for p in pages[:4]]
    finally:
        ex.close()
    assert all(t.strip() and "<div" not in t and "<script" not in t for t in texts)
    assert sum(len(t) for t in texts) > 1000


def test_token_f1():
    assert token_f1("a b c", "a b c") == (1.0, 1.0, 1.0)
    p, r, f = token_f1("a b b x", "a b c")
    assert (p, r) == (2 / 4, 2 / 3) and f == pytest.approx(2 * p * r / (p + r))
    assert token_f1("", "a")[2] == 0.0 and token_f1("", "") == (1.0, 1.0, 1.0)


def test_a_child_that_cannot_start_is_a_clear_error():
    ex = BoundedExtractor(spec="no_such_module:extract")
    with pytest.raises(RuntimeError, match="no_such_module:extract failed to start"):
        ex(b"<html></html>")
