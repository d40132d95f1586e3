"""What a curate run prints: its own lines only, library records when asked; logging state restored."""
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.logs import console
from pipeline.progress import ProgressLine

ROOT = Path(__file__).resolve().parents[2]
WARC = ROOT / "../shared/data/warc/wget_2020_transfer_compression_gzip.warc.gz"


def logging_state():
    names = ("", "apache_beam", "cc2gpt.progress", "apache_beam.runners.portability.local_job_service",
             "apache_beam.runners.dataflow")
    return [(logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names]


def test_progress_line_and_console_restore_the_logging_they_change():
    before = logging_state()
    with pytest.raises(RuntimeError):
        with console("warning"), ProgressLine(stream=io.StringIO()):
            assert logging_state() != before
            raise RuntimeError("the job failed")
    assert logging_state() == before


def test_console_shows_library_records_at_the_level_asked_and_runner_urls_always():
    stream = io.StringIO()
    with console("error", stream):
        logging.getLogger("apache_beam.io").warning("library warning")
        logging.getLogger("trafilatura").error("library error")
        logging.getLogger("apache_beam.runners.dataflow.dataflow_runner").info("job URL")
    with console("warning", stream):
        logging.getLogger("apache_beam.io").warning("asked for")
    shown = stream.getvalue()
    assert "library warning" not in shown
    assert "library error" in shown and "job URL" in shown and "asked for" in shown


def curate(tmp_path, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "pipeline", "--input", str(WARC), "--output",
                           str(tmp_path / "out"), *extra], capture_output=True, text=True, env=env, timeout=600)


def test_a_multi_processing_run_prints_only_its_own_lines(tmp_path):
    """Beam's launcher and SDK workers print "apitools not found ..." and "Logging handler
    created." unless cc2gpt keeps them quiet; --log-level info brings library records back."""
    run = curate(tmp_path, "--direct_num_workers=2")
    assert run.returncode in (0, 3), run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("cc2gpt curate: ") for line in lines), run.stderr
    verbose = curate(tmp_path, "--direct_num_workers=2", "--log-level", "info")
    assert "INFO:" in verbose.stderr
