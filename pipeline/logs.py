"""What a curate run shows on stderr besides its own lines: library log records at `--log-level`.

By default only errors: Beam's start-up warnings and its workers' INFO chatter
are not the user's concern. Remote runners' job id, URL and state changes
(INFO) always show: they are how a user finds a submitted job.
"""
from __future__ import annotations

import contextlib
import logging
import sys

LEVELS = ("debug", "info", "warning", "error")
REMOTE_RUNNERS = ("apache_beam.runners.dataflow", "apache_beam.runners.portability.portable_runner")


class Shown(logging.Filter):
    """Records at `level` or above, and remote runners' INFO lines."""

    def __init__(self, level: int = logging.ERROR):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(REMOTE_RUNNERS):
            return record.levelno >= min(self.level, logging.INFO)
        return record.levelno >= self.level


@contextlib.contextmanager
def console(level: str = "error", stream=None):
    """Route log records through `Shown(level)` to `stream` (stderr) for the block; the root
    logger's handlers and level and the loggers set here are restored after. Yields the filter."""
    shown = Shown(logging.getLevelName(level.upper()))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    handler.addFilter(shown)
    loggers = [logging.getLogger(), *map(logging.getLogger, ("apache_beam", *REMOTE_RUNNERS))]
    saved = [(lg, lg.level) for lg in loggers], logging.getLogger().handlers[:]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(min(shown.level, logging.WARNING))
    logging.getLogger("apache_beam").setLevel(shown.level)
    for name in REMOTE_RUNNERS:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield shown
    finally:
        for lg, lvl in saved[0]:
            lg.setLevel(lvl)
        root.handlers[:] = saved[1]
