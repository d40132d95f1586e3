"""`python -m pipeline.worker`: Beam's SDK worker for a local multi-processing run, quiet on stderr.

The worker sends its log records to the launcher over the Fn API logging
channel, where `--log-level` decides what shows. A handler on the root logger
from the start keeps Python's logging from adding its own stderr handler at
Beam's first import-time warning ("apitools not found ..."), which would print
that warning and then every later record of this worker a second time.
"""
import logging
import sys

logging.getLogger().addHandler(logging.NullHandler())

from apache_beam.runners.worker import sdk_worker_main  # noqa: E402  (after the handler)

if __name__ == "__main__":
    sdk_worker_main.main(sys.argv)
