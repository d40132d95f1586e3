"""Read + extract + language ID + quality filters: cc2gpt vs datatrove's FineWeb steps.

Both run in this process on one core over the same WARC file (196 real pages;
90 of them have human gold in extraction_gold/scrapinghub_aeb), timed from
the first record to the last filtered document, start-up included (cc2gpt's
extraction child and lid.176 load; datatrove's extraction sandbox and spaCy
tokenizer). A second table scores each extractor on trafilatura_eval's
must/must-not snippets (106 pages). Both extract in a child process, so each row reports wall time
and CPU time of this process plus its finished children; the machine is
shared, so the ratio uses CPU time (docs per CPU-second, i.e. one core's rate). Each row also prints the mean whitespace-token F1 of the text
the extraction step produced for the 90 gold pages (a failed page scores 0).

datatrove runs FineWeb's steps: WarcReader, Trafilatura(favour_precision=True),
LanguageFilter(en, 0.65), GopherRepetitionFilter, GopherQualityFilter,
C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter. Its
URLFilter is left out (its blocklist needs a download). Two adaptations
keep it offline: its LanguageFilter gets the same lid.176.ftz that cc2gpt
uses (the .bin it would download is not available), and its per-page
extraction timeout is raised from 1 s to cc2gpt's 30 s so a busy machine
costs neither side pages.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/pipeline_throughput.py [--warc FILE] [--repeat N] [--scaling]

--scaling also runs the same stages as a Beam job (ReadWarc, URL filter,
Extract, LanguageID, Quality) on the DirectRunner (`cc2gpt curate`'s local runner) in
multi_processing mode with 1 and 2 workers and prints the wall-time speed-up,
worker start-up included. The input is --copies copies of the WARC file, so
the few seconds of fixed start-up do not dominate a 196-page run, as they do
not in a real crawl of thousands of pages per file. Each copy holds the file's
records (gzip members, byte for byte) in its own seeded order: the
DirectRunner splits a stage's input between workers statically, round-robin
in arrival order, so identical copies would hand each worker the same pages
from every copy, and one file's imbalance (in this file the even-numbered
records cost 21% more extraction time than the odd ones) would never average
out as it does over distinct pages. The speed-up needs two idle cores to mean anything.

Last line: `ratio: X` = cc2gpt (trafilatura) docs per CPU-second over datatrove's.
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import resource
import tempfile
import time
from pathlib import Path

import apache_beam as beam

from _common import shuffled_copies
from cc2gpt.pipeline.cli import new_pipeline
from cc2gpt.pipeline.doc import REJECTED, Doc
from cc2gpt.pipeline.extract import ExtractConfig, ExtractFn, token_f1
from cc2gpt.pipeline.extract_worker import ExtractFailed
from cc2gpt.pipeline.filters import FilterConfig
from cc2gpt.pipeline.langid import LanguageConfig, LanguageFn, identify, load_model
from cc2gpt.pipeline.quality import Quality, URLFilterFn, quality_steps, verdict_of
from cc2gpt.pipeline.rewriters import Rewriter
from cc2gpt.pipeline.read import ReadWarc
from cc2gpt.pipeline.warc import iter_warc

DATA = Path(__file__).resolve().parents[1] / "../shared/data"
WARC = DATA / "warc/real_pages_aeb_trafilatura.warc.gz"
GOLD = DATA / "extraction_gold/scrapinghub_aeb/ground-truth.json"
SNIPPETS = DATA / "extraction_gold/trafilatura_eval"


def load_gold() -> dict[str, str]:
    """url -> human article text for the 90 scrapinghub pages."""
    return {v["url"]: v["articleBody"] for v in json.loads(GOLD.read_text()).values()}


def mean_f1(extracted: dict[str, str], gold: dict[str, str]) -> float:
    return sum(token_f1(extracted.get(url, ""), text)[2] for url, text in gold.items()) / len(gold)


def snippet_accuracy(extract) -> tuple[float, float, float]:
    """(precision, recall, accuracy) of `extract(html bytes) -> text` on trafilatura_eval."""
    tp = fn = fp = tn = 0
    for case in json.loads((SNIPPETS / "evaldata.json").read_text()).values():
        text = extract(gzip.open(SNIPPETS / "html" / f"{case['file']}.gz").read()) or ""
        found = sum(s in text for s in case["with"])
        leaked = sum(s in text for s in case["without"])
        tp, fn = tp + found, fn + len(case["with"]) - found
        fp, tn = fp + leaked, tn + len(case["without"]) - leaked
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), (tp + tn) / (tp + fn + fp + tn)


def cc2gpt_snippets(backend: str):
    extractor = ExtractConfig(backend=backend).extractor()

    def extract(html: bytes) -> str:
        try:
            return extractor(html)
        except ExtractFailed:
            return ""
    try:
        return snippet_accuracy(extract)
    finally:
        extractor.close()


def datatrove_snippets():
    from datatrove.pipeline.extractors import Trafilatura
    trafilatura = Trafilatura(favour_precision=True)
    return snippet_accuracy(lambda html: trafilatura.extract(html.decode("utf-8", "replace")))


def cpu_seconds() -> float:
    """CPU time of this process and its finished (waited-for) children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(run, warc: Path):
    """(pages, kept, wall s, CPU s, url -> extracted text) of one run."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    pages, kept, extracted = run(warc)
    return pages, kept, time.perf_counter() - wall, cpu_seconds() - cpu, extracted


def passes(steps, doc: Doc) -> bool:
    """The quality steps on one document, as the Quality stage runs them: rewriters change its text."""
    for step in steps:
        if isinstance(step, Rewriter):
            doc.text = step.rewrite(doc)
        elif verdict_of(step, doc) is not None:
            return False
    return True


def run_cc2gpt(warc: Path, backend: str) -> tuple[int, int, dict[str, str]]:
    """(pages, kept, url -> extracted text) for cc2gpt's stages, as the DoFns run them."""
    extractor = ExtractConfig(backend=backend).extractor()
    model, lang_config = load_model(), LanguageConfig()
    config = FilterConfig()
    steps = quality_steps(config)
    pages = kept = 0
    extracted = {}
    try:
        for page in iter_warc(str(warc)):
            if isinstance(page, str):
                continue
            pages += 1
            if verdict_of(config.url_blocklist, Doc.from_page(page)) is not None:
                continue
            try:
                text = extractor(page["html"], page["content_type"], page["url"])
            except ExtractFailed:
                continue
            extracted[page["url"]] = text
            if identify(model, text, lang_config)[2] is not None:
                continue
            kept += passes(steps, Doc.from_page(page, text))
    finally:
        extractor.close()
    return pages, kept, extracted


def _datatrove_offline():
    """Let datatrove's LanguageFilter use fasttext-predict and a local lid.176 model."""
    import datatrove.pipeline.base as base
    import numpy as np

    check = base.check_required_dependencies

    def lenient(step, deps):
        check(step, [("fasttext", "fasttext-predict") if d == ("fasttext", "fasttext-numpy2-wheel")
                     else d for d in deps])
    base.check_required_dependencies = lenient

    class NumpyScores:  # datatrove calls .item() on fasttext's numpy scores
        def __init__(self, model):
            self.model = model

        def predict(self, text, k=-1):
            labels, scores = self.model.predict(text, k=k)
            return labels, np.asarray(scores)
    return NumpyScores(load_model())


def run_datatrove(warc: Path) -> tuple[int, int, dict[str, str]]:
    model = _datatrove_offline()
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
                                            GopherQualityFilter, GopherRepetitionFilter,
                                            LanguageFilter)
    from datatrove.pipeline.readers import WarcReader

    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    language.model._model = model
    extracted = {}
    counted = {"pages": 0}

    def count_pages(data, rank=0, world_size=1):
        for doc in data:
            counted["pages"] += 1
            yield doc

    def tap(data, rank=0, world_size=1):  # the text right after extraction
        for doc in data:
            extracted[doc.metadata["url"]] = doc.text
            yield doc

    steps = [WarcReader(str(warc.parent), glob_pattern=warc.name).run, count_pages,
             Trafilatura(favour_precision=True, timeout=30).run, tap, language.run,
             GopherRepetitionFilter().run, GopherQualityFilter().run,
             C4QualityFilter(filter_no_terminal_punct=False).run, FineWebQualityFilter().run]
    data = None
    for step in steps:
        data = step(data, 0, 1)
    kept = sum(1 for _ in data)
    return counted["pages"], kept, extracted


def run_beam(warcs: list[str], workers: int) -> tuple[float, int]:
    """(wall seconds, kept) of the curation stages up to dedup as a Beam job on the DirectRunner."""
    start = time.perf_counter()
    config = FilterConfig()
    with new_pipeline(["--direct_running_mode=multi_processing",
                       f"--direct_num_workers={workers}"]) as p:
        pages = (p | ReadWarc(warcs))["pages"]
        pages = pages | "URLFilter" >> beam.ParDo(URLFilterFn(config.url_blocklist)).with_outputs(
            REJECTED, main="kept")
        docs = pages.kept | "Extract" >> beam.ParDo(ExtractFn(ExtractConfig())).with_outputs(
            REJECTED, main="kept")
        docs = docs.kept | "Language" >> beam.ParDo(LanguageFn(LanguageConfig())).with_outputs(
            REJECTED, main="kept")
        docs.kept | "Quality" >> Quality(quality_steps(config))
    kept = [c.committed for c in p.result.metrics().query()["counters"]
            if c.key.metric.namespace == "quality" and c.key.metric.name == "kept"]
    return time.perf_counter() - start, sum(kept)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--warc", type=Path, default=WARC)
    p.add_argument("--repeat", type=int, default=1, help="runs per row; the least CPU is reported")
    p.add_argument("--scaling", action="store_true", help="also time 1 vs 2 DirectRunner workers")
    p.add_argument("--copies", type=int, default=8, help="times the WARC is read for --scaling")
    args = p.parse_args()
    logging.disable(logging.WARNING)  # trafilatura's per-page parser warnings
    from loguru import logger  # datatrove's progress logging
    logger.remove()

    gold = load_gold()
    rows = {}
    runners = {"datatrove FineWeb steps": run_datatrove,
               "cc2gpt (trafilatura)": lambda w: run_cc2gpt(w, "trafilatura"),
               "cc2gpt (resiliparse)": lambda w: run_cc2gpt(w, "resiliparse")}
    for _ in range(args.repeat):
        for name, run in runners.items():
            pages, kept, wall, cpu, extracted = timed(run, args.warc)
            if name not in rows or cpu < rows[name][3]:
                rows[name] = (pages, kept, wall, cpu, mean_f1(extracted, gold))

    print(f"{args.warc.name}: read + extract + language ID + Gopher/C4/FineWeb filters, one core")
    print(f"{'pipeline':<26}{'pages':>6}{'kept':>6}{'wall s':>8}{'docs/s':>8}"
          f"{'CPU s':>8}{'docs/CPU-s':>11}{'F1 (90 gold)':>14}")
    for name, (pages, kept, wall, cpu, f1) in rows.items():
        print(f"{name:<26}{pages:>6}{kept:>6}{wall:>8.1f}{pages / wall:>8.1f}"
              f"{cpu:>8.1f}{pages / cpu:>11.1f}{f1:>14.3f}")

    print("trafilatura_eval snippets (287 must, 322 must-not)")
    print(f"{'extractor':<26}{'precision':>10}{'recall':>8}{'accuracy':>10}")
    for name, score in (("datatrove Trafilatura", datatrove_snippets),
                        ("cc2gpt (trafilatura)", lambda: cc2gpt_snippets("trafilatura")),
                        ("cc2gpt (resiliparse)", lambda: cc2gpt_snippets("resiliparse"))):
        precision, recall, accuracy = score()
        print(f"{name:<26}{precision:>10.3f}{recall:>8.3f}{accuracy:>10.3f}")
    if args.scaling:
        with tempfile.TemporaryDirectory() as tmp:
            warcs = shuffled_copies(args.warc, args.copies, tmp)
            (one, kept1), (two, kept2) = run_beam(warcs, 1), run_beam(warcs, 2)
        print(f"Beam DirectRunner (multi_processing), same stages, {args.copies} x {args.warc.name}: "
              f"1 worker {one:.1f} s, 2 workers {two:.1f} s, speed-up {one / two:.2f} "
              f"(kept {kept1} / {kept2})")
    ours, peer = rows["cc2gpt (trafilatura)"], rows["datatrove FineWeb steps"]
    print(f"ratio: {peer[3] / ours[3] * ours[0] / peer[0]:.2f}")


if __name__ == "__main__":
    main()
