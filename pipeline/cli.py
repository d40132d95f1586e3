"""`cc2gpt curate` / `python -m pipeline`: build the Beam job from the command line and run it.

With no runner options the job runs on the DirectRunner in one SDK-worker
process per core (`multi_processing`), so a machine uses all its cores; a
`--runner`, `--direct_running_mode` or `--direct_num_workers` of the user's
turns these defaults off. While the job runs, a live progress line
(`pipeline.progress`: records read, pages, documents past the filters, kept,
rate) is drawn on stderr where worker logs reach this process (the DirectRunner,
Beam's embedded job service); on Dataflow, Flink and Spark the runner's console
shows the job's counters. Exit status: 0 when documents were kept, 1 when the
job failed, 3 (`EXIT_NOTHING_KEPT`) when it finished but kept no document for
the train split.
"""
import contextlib
import json
import os
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions
from apache_beam.runners.runner import PipelineState

from pipeline.curate import Curate
from pipeline.logs import console
from pipeline.options import parse_args
from pipeline.progress import DIRECT_RUNNERS, ProgressLine, reports_reach_launcher
from tokenizer.manifest import MANIFEST

EXIT_NOTHING_KEPT = 3  # the job finished, but kept no document to tokenize for the train split

# SDK-worker subprocesses echo Beam's start-up chatter to our stderr; keep their warnings.
QUIET_WORKERS = json.dumps({"apache_beam": "WARNING", "apache_beam.options.pipeline_options": "ERROR",
                            "__main__": "ERROR"})


def runner_defaults(beam_args: list[str]) -> list[str]:
    """`beam_args`, plus multi-processing on every core unless the user chose a runner or its mode."""
    given = {arg.split("=", 1)[0] for arg in beam_args}
    if PipelineOptions(beam_args).view_as(StandardOptions).runner not in DIRECT_RUNNERS:
        return beam_args
    args = list(beam_args)
    if not given & {"--direct_running_mode", "--direct_num_workers"}:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={cores or 1}"]
    if "--sdk_harness_log_level_overrides" not in given:
        args.append(f"--sdk_harness_log_level_overrides={QUIET_WORKERS}")
    return args


def direct_runner(options: PipelineOptions):
    """The DirectRunner's batch engine (the FnApiRunner), built as the DirectRunner builds it.

    Beam 2.77's DirectRunner first tries Prism, downloading its binary where the
    machine has internet; Prism's default LOOPBACK environment runs the Python code
    inside the launcher process, so `direct_running_mode` and `direct_num_workers`
    no longer spread the job over cores. Building the FnApiRunner here keeps a
    local job's workers, speed and progress line the same on every machine.
    In multi_processing mode the workers start as `python -m pipeline.worker`
    (Beam's worker, quiet on stderr); the mode option is then cleared, or the
    FnApiRunner would put its own worker command back.
    """
    from apache_beam.options.pipeline_options import DirectOptions
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    from apache_beam.transforms.environments import SubprocessSDKEnvironment
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    direct, environment = options.view_as(DirectOptions), None
    if direct.direct_running_mode == "multi_processing":
        environment = SubprocessSDKEnvironment.from_command_string(f"{sys.executable} -m pipeline.worker")
        direct.direct_running_mode = None
    return fn_runner.FnApiRunner(default_environment=environment, provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def new_pipeline(beam_args: list[str]) -> beam.Pipeline:
    """A Beam pipeline for `beam_args` with cc2gpt's local defaults (`runner_defaults`, `direct_runner`)."""
    options = PipelineOptions(runner_defaults(beam_args))
    local = options.view_as(StandardOptions).runner in DIRECT_RUNNERS
    return beam.Pipeline(runner=direct_runner(options) if local else None, options=options)


def read_out_manifest(out: str) -> dict:
    """OUT/manifest.json, read through FileSystems (OUT may be gs:// or s3://)."""
    with FileSystems.open(f"{out}/{MANIFEST}", compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return json.loads(f.read())


def summary(manifest: dict, out: str) -> tuple[list[str], int]:
    """The job's closing lines about its tokenizer and what it kept, and the exit status."""
    funnel, tok = manifest["funnel"], manifest["tokenizer"]
    asked = manifest["config"]["tokenize"]["vocab_size"]
    if tok is None:
        why = ("nothing was kept" if funnel["kept"] == 0 else
               f"none of the {funnel['kept']} kept documents is in the train split")
        return [f"cc2gpt curate: {why}: tokenization skipped (no tokenizer, no token shards); "
                f"`cc2gpt inspect {out}` shows why pages were dropped"], EXIT_NOTHING_KEPT
    lines = []
    if manifest["config"]["tokenize"]["tokenizer"] is None and tok["vocab_size"] < asked:
        lines.append(f"cc2gpt curate: trained a tokenizer of {tok['vocab_size']:,} pieces, the most "
                     f"this sample supports (--vocab-size {asked:,})")
    if funnel["kept"] == 0:
        lines.append(f"cc2gpt curate: nothing was kept: wrote empty token shards; "
                     f"`cc2gpt inspect {out}` shows why pages were dropped")
        return lines, EXIT_NOTHING_KEPT
    return lines, 0


def curate_main(argv: list[str]) -> int:
    config, beam_args = parse_args(argv)
    with console(config.log_level) as shown:
        return _curate(config, beam_args, shown)


def _curate(config, beam_args: list[str], shown) -> int:
    started = time.time()
    p = new_pipeline(beam_args)
    options = p.options
    _ = p | "Curate" >> Curate(config)
    # Where worker logs reach this process, the progress line; elsewhere the runner's console shows
    # the counters, and its job id, URL and state changes show here (pipeline.logs).
    progress = ProgressLine(show=shown) if reports_reach_launcher(options) else contextlib.nullcontext()
    with progress:
        result = p.run()  # the DirectRunner returns when done, remote runners once submitted
        result.wait_until_finish()
    if options.view_as(TestOptions).dry_run:
        print("cc2gpt curate: dry run: the job was built, not submitted", file=sys.stderr)
        return 0
    if result.state != PipelineState.DONE:
        print(f"cc2gpt curate: the job ended {result.state}", file=sys.stderr)
        return 1
    manifest = read_out_manifest(config.output)
    print(f"cc2gpt curate: wrote {config.output} in {time.time() - started:.1f}s", file=sys.stderr)
    lines, status = summary(manifest, config.output)
    for line in lines:
        print(line, file=sys.stderr)
    print(json.dumps(manifest["funnel"], indent=2))
    return status
