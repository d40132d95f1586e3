"""The URL filter and quality stages in Beam: what runs before what, who may reject, who may rewrite."""
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.curate import Curate
from pipeline.doc import REJECTED, Doc
from pipeline.extract import ExtractConfig, ExtractFn
from pipeline.filters import FilterConfig, FineWebQuality, GopherQuality, URLBlocklist
from pipeline.options import CurateConfig
from pipeline.quality import Quality, URLFilterFn, quality_steps, verdict_of

ROOT = Path(__file__).resolve().parents[2]
MISBEHAVE = "tests.pipeline.slow_extractors:misbehave"

ARTICLE = """The town council met on Tuesday evening to discuss the new budget for the coming year.
Members asked the treasurer why the cost of road repairs had risen so sharply since the spring.
She explained that the price of asphalt doubled after two suppliers closed their plants in the region.
Several residents spoke about the bus route to the hospital, which they said runs far too rarely.
The mayor promised that a full report with the options would be published before the end of May.
Questions about the meeting can be sent to the clerk at me@example.com before Friday."""
MENU = "\n".join(("Home", "News", "Sport", "Weather", "Business", "Travel", "Culture", "Science",
                  "Health", "Music", "Film", "Books", "Contact"))  # lines of one word: C4 drops them


def doc(doc_id, text):
    return Doc(id=doc_id, url=f"http://example.com/{doc_id}", crawl_date="", text=text, language="en")


def test_fineweb_decides_on_the_c4_cleaned_lines():
    """Menu lines make FineWeb's short-line rule reject the raw text; after C4's line cleaning
    (a rewriter running before FineWeb, as datatrove's C4 filter does) the page is kept."""
    page = doc("menu", MENU + "\n" + ARTICLE)
    assert FineWebQuality().filter(page.copy()) == "short_line_ratio"
    with TestPipeline() as p:
        out = p | beam.Create([page, doc("short", "Too short.")]) | Quality(quality_steps(FilterConfig()))
        assert_that(out["kept"] | beam.Map(lambda d: (d.id, d.text.startswith("The town council"),
                                                       "me@example.com" in d.text, d.signals["pii_emails"])),
                    equal_to([("menu", True, False, 1.0)]), label="kept")
        assert_that(out["rejected"] | beam.Map(lambda d: (d.id, d.stage, d.reason, d.duplicate_of)),
                    equal_to([("short", "gopher_repetition", "top_2_gram_frac", "")]), label="rejected")


def test_the_stage_labels_say_which_steps_filter_and_which_rewrite():
    p = beam.Pipeline()
    _ = p | beam.Create([]) | "Quality" >> Quality(quality_steps(FilterConfig()))
    labels = [t.full_label for t in p.transforms_stack[0].parts[-1].parts]
    assert labels[:4] == ["Quality/Filters[gopher_repetition,gopher_quality,c4]", "Quality/Rewriters[c4_lines]",
                          "Quality/Filters[fineweb]", "Quality/Rewriters[pii]"]


def test_a_filter_answering_neither_true_nor_a_reason_is_an_error():
    class Sloppy(GopherQuality):
        def filter(self, doc):
            return None
    with pytest.raises(TypeError, match="expected True or a reason"):
        verdict_of(Sloppy(), doc("x", ARTICLE))


def test_a_blocked_url_is_never_extracted(monkeypatch):
    """The blocked page would hang the extractor (counted as extract_timeout) if it were ever extracted."""
    monkeypatch.syspath_prepend(str(ROOT))  # the child imports tests.pipeline.slow_extractors
    pages = [{"id": "blocked", "url": "https://www.pornhub.com/view", "crawl_date": "", "source": "s",
              "content_type": "text/html", "html": b"HANG"},
             {"id": "fine", "url": "https://example.com/a", "crawl_date": "", "source": "s",
              "content_type": "text/html", "html": b"fine text"}]
    p = TestPipeline()
    urls = p | beam.Create(pages) | beam.ParDo(URLFilterFn(URLBlocklist())).with_outputs(REJECTED, main="kept")
    extracted = urls.kept | beam.ParDo(ExtractFn(ExtractConfig(timeout_s=5.0), spec=MISBEHAVE)).with_outputs(
        REJECTED, main="kept")
    assert_that(urls[REJECTED] | beam.Map(lambda d: (d.id, d.stage, d.reason, d.text)),
                equal_to([("blocked", "url_blocklist", "blocked_domain", "")]), label="url")
    assert_that(extracted.kept | beam.Map(lambda d: d.id), equal_to(["fine"]), label="extracted")
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed
                for c in result.metrics().query(MetricsFilter().with_namespace("extract"))["counters"]}
    assert counters == {"kept": 1}


def producers(pipeline: beam.Pipeline) -> dict[str, set[str]]:
    """Step label -> the labels of the steps producing its inputs (a ParDo's own label left out)."""
    found, step = {}, lambda label: label.split("/ParDo(")[0]

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            found[step(node.full_label)] = {step(pc.producer.full_label) for pc in node.inputs
                                            if isinstance(pc, beam.PCollection)}
    pipeline.visit(Visitor())
    return found


def test_curate_runs_the_url_filter_before_extraction(tmp_path):
    p = beam.Pipeline()
    _ = p | "Curate" >> Curate(CurateConfig(input=[str(ROOT / "../shared/data/warc/*.warc.gz")],
                                            output=str(tmp_path)))
    edges = producers(p)
    assert all(label.startswith("Curate/ReadWarc/") for label in edges["Curate/URLFilter"])
    assert edges["Curate/Extract"] == {"Curate/URLFilter"}
    assert edges["Curate/LanguageID"] == {"Curate/Extract"}
    assert edges["Curate/FiltersAndRewriters/Filters[gopher_repetition,gopher_quality,c4]"] == {"Curate/LanguageID"}
