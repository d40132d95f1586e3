"""The Dataflow job builds offline (DataflowRunner's --dry_run): every stage, the container, the setup-file route.

`--dry_run` runs everything DataflowRunner does before talking to Google
(graph overrides, the portable pipeline, environments, staged artifacts, the
v1beta3 Job) and stops short of the submission, so no network or project is
needed; the gs:// input is listed by the job itself, so building it reads no
bucket either. It needs google-cloud-dataflow-client and google-cloud-storage, which
the `dev` extra installs (the whole `dataflow` extra takes 90 s to install).
"""
from pathlib import Path

import pytest
from google.cloud.dataflow_v1beta3 import JobType

from cc2gpt.pipeline.cli import new_pipeline
from cc2gpt.pipeline.curate import Curate
from cc2gpt.pipeline.options import parse_args

ROOT = Path(__file__).resolve().parents[2]
WARCS = "gs://my-bucket/warc/*.warc.gz"  # matched by the job's workers: building it reads no bucket
IMAGE = "us-docker.pkg.dev/my-project/cc2gpt/curate:0.1.0"
STAGES = ("ReadWarc", "URLFilter", "Extract", "LanguageID", "FiltersAndRewriters", "Dedup", "TrainTokenizer",
          "Tokenize", "WriteDocuments", "WriteRejected", "WriteManifest")


@pytest.fixture(scope="module")
def job():
    """The Dataflow job `cc2gpt curate --runner DataflowRunner ...` would submit (custom container + setup file)."""
    config, beam_args = parse_args([
        "--input", WARCS, "--output", "gs://my-bucket/out", "--vocab-size", "32768",
        "--runner", "DataflowRunner", "--project", "my-project", "--region", "us-central1",
        "--temp_location", "gs://my-bucket/tmp", "--sdk_container_image", IMAGE,
        "--setup_file", str(ROOT / "pyproject.toml"), "--dry_run", "true"])
    pipeline = new_pipeline(beam_args)
    _ = pipeline | "Curate" >> Curate(config)
    return pipeline.run().job


def test_batch_job_has_every_stage(job):
    assert job.proto.type_ == JobType.JOB_TYPE_BATCH
    transforms = job.proto_pipeline.components.transforms
    names = {t.unique_name for t in transforms.values()}
    assert {f"Curate/{stage}" for stage in STAGES} <= names
    steps = [t for t in transforms.values() if not t.subtransforms]
    print(f"dry-run job: {len(transforms)} transforms, {len(steps)} primitive steps")
    assert len(steps) > 100   # the real graph: 229 primitive steps on 2026-11-22


def test_workers_run_the_custom_container_with_the_staged_package(job):
    environments = list(job.proto_pipeline.components.environments.values())
    assert environments and all(IMAGE.encode() in env.payload for env in environments)
    staged = [str(dep.role_payload) for env in environments for dep in env.dependencies]
    assert any("workflow.tar.gz" in s for s in staged), staged   # the --setup_file sdist


def test_input_files_are_listed_by_the_job_not_when_it_is_built(job):
    """The fixture built a job over gs:// input offline (listing the bucket would wait 120 s, then fail)."""
    names = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    assert {f"Curate/ReadWarc/{step}" for step in ("ListFiles", "SpreadRanges", "ReadRecords")} <= names


def test_local_runner_defaults_stay_off(job):
    options = job.options.get_all_options()
    assert options["direct_running_mode"] == "in_memory"   # Beam's default: runner_defaults added nothing
    assert options["sdk_container_image"] == IMAGE
