"""Live progress of a running job: workers log running counts, the launcher draws one line.

Python's DirectRunner runs a batch job to completion inside `Pipeline.run()`
and hands back its metrics only at the end, so the launcher cannot poll Beam
counters while the job runs. Every runner does ship worker log records to the
launcher, though: directly when the DoFns run in its process, over the Fn API
logging channel when they run in SDK-worker subprocesses or an external worker
pool. So `Count` steps log each DoFn instance's running total (at most every
`interval` seconds, and at the end of every bundle), and `ProgressLine`, a
logging handler in the launcher, keeps the latest total of each instance and
redraws their sums on stderr. Where worker logs never reach the launcher
(Dataflow, Flink and Spark clusters) the steps stay silent: their consoles show
the Beam counters the stages emit.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
import time
import uuid

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions
from apache_beam.runners.worker.log_handler import FnApiLogRecordHandler

MARK = "cc2gpt-progress"
DIRECT_RUNNERS = (None, "DirectRunner", "direct")  # --runner values that mean Beam's local runner
_WORKER_LOG = logging.getLogger("cc2gpt.progress")
_REPORT = re.compile(MARK + r" (\w+) (\w+) (\d+)")
_ROUTES = ("cc2gpt.progress", "apache_beam.runners.portability.local_job_service")  # worker reports' loggers


def reports_reach_launcher(options: PipelineOptions) -> bool:
    """True where worker logs come back to the launcher: the DirectRunner, Beam's embedded job service."""
    runner = options.view_as(StandardOptions).runner
    if runner in DIRECT_RUNNERS:
        return True
    return runner == "PortableRunner" and options.view_as(PortableOptions).job_endpoint == "embed"


class _CountFn(beam.DoFn):
    def __init__(self, name: str, interval: float, report: bool):
        self.name, self.interval, self.report = name, interval, report

    def setup(self):
        self.instance, self.count, self.last = uuid.uuid4().hex[:12], 0, 0.0
        # On an SDK worker, report only through the Fn API log channel that reaches
        # the runner, not also through the worker's own stderr.
        channel = [h for h in logging.getLogger().handlers if isinstance(h, FnApiLogRecordHandler)]
        if channel:
            _WORKER_LOG.handlers[:], _WORKER_LOG.propagate = channel, False

    def process(self, element):
        self.count += 1
        if self.report and time.monotonic() - self.last >= self.interval:
            self._report()

    def finish_bundle(self):
        if self.report:
            self._report()

    def _report(self):
        self.last = time.monotonic()
        _WORKER_LOG.info("%s %s %s %d", MARK, self.name, self.instance, self.count)


class Count(beam.PTransform):
    """A side branch that counts its input's elements for the progress line (outputs nothing).

    On runners whose worker logs never reach the launcher (Dataflow, a Flink or
    Spark cluster) it stays silent rather than flood their logging.
    """

    def __init__(self, name: str, interval: float = 2.0):
        super().__init__()
        if not re.fullmatch(r"\w+", name):
            raise ValueError(f"progress counter names are single words, got {name!r}")
        self.name, self.interval = name, interval

    def expand(self, pcoll):
        report = reports_reach_launcher(pcoll.pipeline.options)
        return pcoll | beam.ParDo(_CountFn(self.name, self.interval, report))


class ProgressLine(logging.Handler):
    """Launcher side: sums the workers' latest totals and redraws one status line on `stream`.

    Counter names are free; `records` is shown first (or derived as `pages` +
    `skipped`, the reader's two outputs), then `pages`, `filtered`, `kept`.

    While active it owns the root logger's output: progress reports update the
    line, other records that `show` lets through (default: WARNING and above)
    are printed above it, the rest (worker INFO chatter) is dropped; on exit
    the root logger and the loggers it set are restored. On a terminal the line is redrawn every
    `every` seconds; elsewhere (CI logs, files) a new line is printed every
    `log_every` seconds instead.
    """

    def __init__(self, order=("records", "pages", "filtered", "kept"), rate_of="records",
                 stream=None, every: float = 1.0, log_every: float = 15.0, show: logging.Filter | None = None):
        super().__init__(logging.INFO)
        self.show = show
        self.order, self.rate_of = tuple(order), rate_of
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if self.tty else log_every
        self.latest: dict[tuple[str, str], int] = {}
        self._mutex = threading.Lock()
        self.started = time.monotonic()
        self.stopped = threading.Event()
        self.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))

    def emit(self, record: logging.LogRecord):
        report = _REPORT.search(record.getMessage())
        if report:
            name, instance, count = report.groups()
            with self._mutex:
                self.latest[(name, instance)] = int(count)
        elif self.show.filter(record) if self.show else record.levelno >= logging.WARNING:
            self._write(self.format(record) + "\n")

    def totals(self) -> dict[str, int]:
        with self._mutex:
            sums: dict[str, int] = {}
            for (name, _), count in self.latest.items():
                sums[name] = sums.get(name, 0) + count
        if "records" not in sums and ("pages" in sums or "skipped" in sums):
            sums["records"] = sums.get("pages", 0) + sums.pop("skipped", 0)  # every record is one or the other
        return sums

    def render(self) -> str:
        totals, elapsed = self.totals(), time.monotonic() - self.started
        names = [n for n in self.order if n in totals] + sorted(set(totals) - set(self.order))
        parts = [f"{name} {totals[name]:,}" for name in names]
        if self.rate_of in totals and elapsed > 0:
            parts.append(f"{totals[self.rate_of] / elapsed:,.1f} {self.rate_of}/s")
        minutes, seconds = divmod(int(elapsed), 60)
        return " | ".join(parts + [f"{minutes}:{seconds:02d}"])

    def _write(self, text: str, status: bool = False):
        with self._mutex:
            if self.tty:  # go back over the status line, then (re)draw
                text = "\r\x1b[K" + text
            elif status:
                text += "\n"
            self.stream.write(text)
            self.stream.flush()

    def _redraw(self):
        while not self.stopped.wait(self.every):
            self._write("cc2gpt curate: " + self.render(), status=True)

    def __enter__(self):
        root = logging.getLogger()
        routes = [logging.getLogger(name) for name in _ROUTES]
        self.saved = [(lg, lg.level) for lg in (root, *routes)], root.handlers[:]
        root.handlers[:] = [self]
        for lg in (root, *routes):
            lg.setLevel(logging.INFO)
        self.thread = threading.Thread(target=self._redraw, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()
        for lg, level in self.saved[0]:
            lg.setLevel(level)
        logging.getLogger().handlers[:] = self.saved[1]
        self._write("cc2gpt curate: " + self.render() + ("\n" if self.tty else ""), status=True)
