"""Local defaults of `cc2gpt curate`: multi-processing on every core, and the live progress line."""
import io
import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from cc2gpt.pipeline.cli import new_pipeline, runner_defaults
from cc2gpt.pipeline.progress import MARK, Count, ProgressLine, reports_reach_launcher


def test_direct_runner_defaults_to_a_worker_process_per_core(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2})
    args = runner_defaults([])
    assert "--direct_running_mode=multi_processing" in args and "--direct_num_workers=3" in args
    assert runner_defaults(["--runner", "DirectRunner"])[2:4] == args[:2]


def test_local_jobs_run_on_the_fn_api_runner_not_prism():
    """The DirectRunner would try Prism first where it can download it, and run on one core."""
    p = new_pipeline(["--direct_num_workers=2"])
    assert isinstance(p.runner, FnApiRunner)
    options = p.runner._provision_info.provision_info.pipeline_options  # what the workers read
    assert int(options["beam:option:direct_num_workers:v1"]) == 2
    assert "apache_beam" in options["beam:option:sdk_harness_log_level_overrides:v1"]
    assert not isinstance(new_pipeline(["--runner=PortableRunner"]).runner, FnApiRunner)


def test_the_users_runner_options_win():
    for given in (["--runner", "DataflowRunner", "--project", "p"], ["--runner=FlinkRunner"]):
        assert runner_defaults(given) == given
    for given in (["--direct_num_workers=1"], ["--direct_running_mode", "in_memory"]):
        args = runner_defaults(given)
        assert args[:len(given)] == given and not any(a.startswith("--direct_") for a in args[len(given):])


def test_progress_sums_the_latest_total_of_each_worker_instance():
    line = ProgressLine(stream=io.StringIO())
    worker = logging.getLogger("cc2gpt.progress")
    line.handle(worker.makeRecord(worker.name, logging.INFO, __file__, 1,
                                  "%s records a1 %d", (MARK, 10), None))
    line.handle(worker.makeRecord(worker.name, logging.INFO, __file__, 1,
                                  "%s records a1 %d", (MARK, 25), None))   # a1's newer total
    # a record relayed from an SDK-worker process, as Beam's logging service re-logs it
    relayed = (f'Worker: severity: INFO timestamp {{ seconds: 1 }} message: "{MARK} records b2 7" '
               'log_location: "/x/pipeline/progress.py:57" thread: "MainThread"')
    line.handle(logging.LogRecord("apache_beam", logging.INFO, __file__, 1, relayed, None, None))
    line.handle(logging.LogRecord("x", logging.INFO, __file__, 1, "unrelated chatter", None, None))
    assert line.totals() == {"records": 32}
    assert line.render().startswith("records 32 | ")


def test_records_are_pages_plus_skips_when_not_counted_directly():
    line = ProgressLine(stream=io.StringIO())
    for name, count in (("pages", 5), ("skipped", 3), ("kept", 2)):
        line.handle(logging.LogRecord("cc2gpt.progress", logging.INFO, __file__, 1,
                                      f"{MARK} {name} i1 {count}", None, None))
    assert line.totals() == {"records": 8, "pages": 5, "kept": 2}
    assert line.render().startswith("records 8 | pages 5 | kept 2 | ")


def test_count_reports_reach_the_launcher_from_a_running_job():
    stream = io.StringIO()
    with ProgressLine(stream=stream) as line:
        with beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"])) as p:
            numbers = p | beam.Create(range(500))
            _ = numbers | "All" >> Count("records")
            _ = numbers | beam.Filter(lambda n: n % 5 == 0) | "Kept" >> Count("kept")
    assert line.totals() == {"records": 500, "kept": 100}
    assert "records 500 | kept 100 | " in stream.getvalue()


def test_count_is_silent_where_worker_logs_do_not_come_back():
    def hears(*args):
        return reports_reach_launcher(PipelineOptions(list(args)))
    assert hears() and hears("--runner", "DirectRunner")
    assert hears("--runner", "PortableRunner", "--job_endpoint", "embed")
    assert not hears("--runner", "DataflowRunner")
    assert not hears("--runner", "PortableRunner", "--job_endpoint", "localhost:8099")
    assert not hears("--runner", "FlinkRunner")
