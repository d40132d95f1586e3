"""The URL filter and the quality stage as Beam steps: filters decide, rewriters change text.

FineWeb's order: the URL blocklist runs on pages, before any extraction work
is spent on them. After language ID, Gopher repetition, Gopher quality and C4
decide; C4's line cleaning rewrites the kept text; FineWeb's rules decide on
those cleaned lines (as datatrove's FineWebQualityFilter sees them after its
C4QualityFilter); PII masking rewrites last. Consecutive steps of one kind run
as one Beam stage, labelled `Filters[...]` or `Rewriters[...]`, so the graph
shows which stages may reject and which may change text.
"""
from __future__ import annotations

import dataclasses
from itertools import groupby
from typing import Callable

import apache_beam as beam
from apache_beam.metrics import Metrics

from cc2gpt.pipeline.doc import REJECTED, Doc
from cc2gpt.pipeline.filters import C4Quality, Filter, FilterConfig, URLBlocklist
from cc2gpt.pipeline.rewriters import C4LineCleaner, Rewriter
from cc2gpt.pipeline.step import Step


def quality_steps(config: FilterConfig) -> list[Step]:
    """The enabled filters and rewriters after language ID, in run order (the URL blocklist runs apart)."""
    steps = []
    for fd in dataclasses.fields(config):
        step = getattr(config, fd.name)
        if step is None or isinstance(step, URLBlocklist):
            continue
        steps.append(step)
        if isinstance(step, C4Quality):
            steps.append(C4LineCleaner(step))
    return steps


def verdict_of(f: Filter, doc: Doc) -> str | None:
    """None to keep, else the reject reason; a filter answering neither True nor a str is a bug."""
    verdict = f.filter(doc)
    if verdict is True:
        return None
    if not isinstance(verdict, str) or not verdict:
        raise TypeError(f"filter {f.name!r} returned {verdict!r}: expected True or a reason")
    return verdict


class URLFilterFn(beam.DoFn):
    """Page or Doc -> the same (main) | TaggedOutput(REJECTED, its Doc rejected by the blocklist).

    With no blocklist (`--no-filter url_blocklist`) everything passes, and so
    does a Doc without a URL (a text-dataset row that has none).
    """

    def __init__(self, blocklist: URLBlocklist | None):
        self.blocklist = blocklist

    def setup(self):
        if self.blocklist is not None:
            self.blocklist.setup()

    def process(self, item: dict | Doc):
        doc = item if isinstance(item, Doc) else Doc.from_page(item)
        if self.blocklist is None or not doc.url:
            yield item
            return
        reason = verdict_of(self.blocklist, doc)
        if reason is None:
            yield item
        else:
            Metrics.counter(self.blocklist.name, reason).inc()
            yield beam.pvalue.TaggedOutput(REJECTED, doc.reject(self.blocklist.name, reason))


class FilterFn(beam.DoFn):
    """Doc -> Doc with the filters' signals | TaggedOutput(REJECTED) at the first filter that rejects."""

    def __init__(self, filters: list[Filter]):
        self.filters = list(filters)

    def setup(self):
        for f in self.filters:
            f.setup()

    def process(self, doc: Doc):
        doc = doc.copy()
        for f in self.filters:
            reason = verdict_of(f, doc)
            if reason is not None:
                Metrics.counter(f.name, reason).inc()
                yield beam.pvalue.TaggedOutput(REJECTED, doc.reject(f.name, reason))
                return
        yield doc


class RewriteFn(beam.DoFn):
    """Doc -> Doc with its text rewritten by each rewriter in turn (never rejects)."""

    def __init__(self, rewriters: list[Rewriter]):
        self.rewriters = list(rewriters)

    def setup(self):
        for r in self.rewriters:
            r.setup()

    def process(self, doc: Doc):
        doc = doc.copy()
        for r in self.rewriters:
            doc.text = r.rewrite(doc)
        yield doc


def _count_kept(doc: Doc, counter=Metrics.counter("quality", "kept")) -> Doc:
    counter.inc()
    return doc


class Quality(beam.PTransform):
    """PCollection[Doc] -> {"kept", "rejected"} through `steps` (filters and rewriters) in order.

    `park_rejects` makes a transform that each filter stage's rejects go through
    before they are merged (the curation job parks them in Parquet there, where
    they were made: a runner may hold a merge's input in memory).
    """

    def __init__(self, steps: list[Step], park_rejects: Callable[[], beam.PTransform] | None = None):
        super().__init__()
        self.steps = list(steps)
        self.park_rejects = park_rejects

    def expand(self, docs):
        rejected = []
        for is_filter, group in groupby(self.steps, key=lambda s: isinstance(s, Filter)):
            group = list(group)
            label = f"{'Filters' if is_filter else 'Rewriters'}[{','.join(s.name for s in group)}]"
            if is_filter:
                out = docs | label >> beam.ParDo(FilterFn(group)).with_outputs(REJECTED, main="kept")
                docs = out.kept
                rejected.append(out[REJECTED] if self.park_rejects is None
                                else out[REJECTED] | f"Park{label}" >> self.park_rejects())
            else:
                docs = docs | label >> beam.ParDo(RewriteFn(group))
        kept = docs | "CountKept" >> beam.Map(_count_kept)
        return {"kept": kept,
                "rejected": tuple(rejected) | "AllRejected" >> beam.Flatten(pipeline=docs.pipeline)}
