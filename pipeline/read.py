"""The read stage: every input file, WARC or text dataset, into Pages and Docs.

`ReadWarc` lists the files inside the job, cuts each into pieces (a WARC file's
byte ranges, pipeline.warc; a text dataset's row groups, byte ranges or whole
file, pipeline.text_input) and reads each piece where it lands with one
splittable DoFn, so both kinds flow into the same fused stages. It composes
the two readers, which know nothing of each other.
"""
from __future__ import annotations

import os
from typing import Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from cc2gpt.pipeline.progress import DIRECT_RUNNERS
from cc2gpt.pipeline.text_input import DEFAULT_TXT_DOC_BYTES, read_piece, text_format, text_splits
from cc2gpt.pipeline.warc import (DEFAULT_MAX_PAGE_BYTES, DEFAULT_RANGE_BYTES, _ByteRange, _ReadRangeFn,
                                  byte_ranges)


def file_ranges(file, range_bytes: int, min_ranges: int = 1) -> Iterator[tuple[str, int, int]]:
    """The (path, start, stop) pieces of one matched file: `text_splits` for a text dataset,
    else the WARC file's byte ranges."""
    if text_format(file.path) is None:
        return byte_ranges(file, range_bytes, min_ranges)
    return text_splits(file, range_bytes, min_ranges)


class ReadRangeOrTextFn(_ReadRangeFn):
    """A WARC byte range (as `_ReadRangeFn`) or a text dataset's piece -> Pages or Docs (main
    output) and skip reasons (tagged "skipped").

    A text piece is claimed whole before it is read, so it is never split; the
    pieces are what spreads a large file over the workers.
    """

    def __init__(self, max_page_bytes: int, txt_doc_bytes: int | None = None):
        super().__init__(max_page_bytes)
        self.txt_doc_bytes = DEFAULT_TXT_DOC_BYTES if txt_doc_bytes is None else txt_doc_bytes
        self.docs = Metrics.counter("text", "docs")

    def process(self, element, tracker=beam.DoFn.RestrictionParam(_ByteRange())):
        path, start, stop = element
        if text_format(path) is None:
            yield from super().process(element, tracker)
            return
        if not tracker.try_claim(stop - 1):
            return
        for item in read_piece(path, start, stop, self.txt_doc_bytes):
            self.records.inc()
            if isinstance(item, str):
                Metrics.counter("text", f"skipped_{item}").inc()
                yield beam.pvalue.TaggedOutput("skipped", item)
            else:
                self.docs.inc()
                yield item
        tracker.try_claim(stop)  # the piece is done


def _local_workers(options) -> int:
    """The SDK workers of a multi-process local run, else 1.

    The local runner hands each worker a fixed share of the ranges and never
    splits one while it runs, so a file gets at least one range per worker.
    """
    direct = options.view_as(DirectOptions)
    if (options.view_as(StandardOptions).runner not in DIRECT_RUNNERS
            or direct.direct_running_mode == "in_memory"):
        return 1
    return direct.direct_num_workers or os.cpu_count() or 1


class ReadWarc(beam.PTransform):
    """PBegin -> {"pages": PCollection[Page | Doc], "skipped": PCollection[str]}.

    The glob patterns are matched inside the job (no path list in the graph);
    each WARC file becomes byte ranges of `range_bytes` (the initial splits), and
    only the ranges, a few bytes each, are shuffled to spread them over the
    workers. Pages never leave the worker that read them: the stages after
    ReadWarc fuse with it, so what leaves that worker is extracted text.
    Text datasets among the files (Parquet, JSONL, .txt, WET: pipeline.text_input)
    are split and read by the same step, into Docs among the pages: they flow
    through the same fused stages (the extraction stage passes them on), so
    no flatten materializes either kind.
    """

    def __init__(self, patterns: list[str], max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
                 range_bytes: int = DEFAULT_RANGE_BYTES, txt_doc_bytes: int | None = None):
        super().__init__()
        self.patterns = list(patterns)
        self.max_page_bytes = max_page_bytes
        self.range_bytes = range_bytes
        self.txt_doc_bytes = txt_doc_bytes  # None: text_input's default

    def expand(self, pbegin):
        out = (pbegin
               | "Patterns" >> beam.Create(self.patterns)
               | "ListFiles" >> fileio.MatchAll(EmptyMatchTreatment.DISALLOW)
               | "ByteRanges" >> beam.FlatMap(file_ranges, self.range_bytes,
                                              _local_workers(pbegin.pipeline.options))
               | "SpreadRanges" >> beam.Distinct()  # a file matched by two patterns is read once
               | "ReadRecords" >> beam.ParDo(ReadRangeOrTextFn(self.max_page_bytes, self.txt_doc_bytes))
               .with_outputs("skipped", main="pages"))
        return {"pages": out.pages, "skipped": out.skipped}
