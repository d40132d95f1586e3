"""Main-text extraction stage: Page -> Doc, bounded in time and memory per page.

trafilatura (default; with favor_precision, as FineWeb) or resiliparse runs in
a child process per DoFn instance (pipeline.extract_worker): a page that
hangs past `timeout_s` or breaks the memory cap is killed and counted
(`extract_timeout`, `extract_crash`), and the job goes on. trafilatura's
`deduplicate` stays off: its cache is process-wide, so output would depend on
which pages a worker saw before.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics

from cc2gpt.pipeline.doc import REJECTED, Doc
from cc2gpt.pipeline.extract_worker import BoundedExtractor, ExtractFailed

STAGE = "extract"


@dataclass
class ExtractConfig:
    backend: str = "trafilatura"        # or "resiliparse": ~10x faster, lower F1
    timeout_s: float = 30.0             # per page; slower pages are killed: extract_timeout
    max_memory_mb: int = 4096           # address-space cap of the extraction child
    favor_precision: bool = True        # trafilatura: drop doubtful boilerplate (FineWeb's setting)
    include_comments: bool = False      # reader comments are not main text (both backends)

    def extractor(self, spec: str | None = None) -> BoundedExtractor:
        return BoundedExtractor(self.backend, self.timeout_s, asdict(self), spec)


class ExtractFn(beam.DoFn):
    """Page -> Doc (main) | TaggedOutput("rejected", Doc rejected by stage "extract"); a Doc
    (from a text dataset) passes as it is.

    `spec` ("module:function") replaces the backend's extractor; tests use it
    to inject a page that hangs.
    """

    def __init__(self, config: ExtractConfig | None = None, spec: str | None = None):
        self.config = config or ExtractConfig()
        self.spec = spec
        self.kept = Metrics.counter(STAGE, "kept")

    def setup(self):
        # Start the extraction child now, so trafilatura loads once per worker up front and
        # a child that cannot start fails the job before any data flows.
        self.extractor = self.config.extractor(self.spec)
        self.extractor.start()

    def teardown(self):
        self.extractor.close()

    def process(self, page: dict | Doc):
        if isinstance(page, Doc):  # a text dataset's document (pipeline.text_input): nothing to extract
            yield page
            return
        try:
            text = self.extractor(page["html"], page.get("content_type", ""), page["url"])
        except ExtractFailed as failed:
            reason = str(failed)
            Metrics.counter(STAGE, reason).inc()
            yield beam.pvalue.TaggedOutput(REJECTED, Doc.from_page(page).reject(STAGE, reason))
            return
        self.kept.inc()
        yield Doc.from_page(page, text)


def token_f1(predicted: str, gold: str) -> tuple[float, float, float]:
    """Precision, recall, F1 over multisets of whitespace tokens (Scrapinghub AEB's scoring)."""
    pred, ref = Counter(predicted.split()), Counter(gold.split())
    if not pred or not ref:
        return (float(pred == ref),) * 3
    overlap = sum((pred & ref).values())
    p, r = overlap / sum(pred.values()), overlap / sum(ref.values())
    return p, r, (2 * p * r / (p + r) if overlap else 0.0)
