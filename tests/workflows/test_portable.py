"""`cc2gpt curate` on the PortableRunner, the way Flink and Spark run it, writes the DirectRunner's shards.

Beam's embedded job service (`--job_endpoint=embed`) stands in for the Flink or
Spark job server; the SDK workers come from an external worker pool in
separate processes (`worker_pool_main`), as on a Flink or Spark cluster
started with `--environment_type=EXTERNAL`. Everything talks over 127.0.0.1.
The DirectRunner side runs two SDK-worker processes, the pool one worker, so
this also checks that outputs do not depend on the number of workers.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cc2gpt

WARC_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "warc"
SUBSET = ("cc-main-2020-34_sample", "dolma_wget_sample-0000", "wget_2020_transfer_compression_gzip",
          "warcio_example_with_revisit")
INPUT = ",".join(str(WARC_DIR / f"{name}.warc.gz") for name in SUBSET)
JOB = ["--input", INPUT, "--vocab-size", "512", "--val-fraction", "0.2", "--shard-tokens", "5000"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker pool exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"worker pool not listening on 127.0.0.1:{port}")


@pytest.fixture
def worker_pool(tmp_path):
    """An external SDK worker pool in its own process group; killed, with its workers, at teardown."""
    port = _free_port()
    # The pool starts each SDK worker as `python ...`: make that this interpreter.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    with open(tmp_path / "worker_pool.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _outputs(out: Path) -> dict[str, bytes]:
    files = sorted(out.glob("tokens/*/*.arrow")) + [out / "tokenizer" / "tokenizer.model"]
    return {str(f.relative_to(out)): f.read_bytes() for f in files}


def test_portable_runner_writes_the_direct_runners_shards(tmp_path, worker_pool):
    direct, portable = tmp_path / "direct", tmp_path / "portable"
    assert cc2gpt.main(["curate", *JOB, "--output", str(direct),
                        "--direct_running_mode=multi_processing", "--direct_num_workers=2"]) == 0
    assert cc2gpt.main(["curate", *JOB, "--output", str(portable), "--runner", "PortableRunner",
                        "--job_endpoint", "embed", "--environment_type", "EXTERNAL",
                        "--environment_config", worker_pool]) == 0
    want = _outputs(direct)
    assert len([name for name in want if name.startswith("tokens/")]) >= 2
    assert _outputs(portable) == want
