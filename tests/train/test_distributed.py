"""torchrun on CPU with gloo: 2 processes train exactly as 1 process on the same global batch,
the preset's micro-batch lowered to fit them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cc2gpt.train.checkpoint import read_checkpoint
from cc2gpt.train.cli import main as train_main

from .conftest import SMALL, read_metrics

REPO = Path(__file__).resolve().parents[2]
# 1536 tokens are 24 windows of 64: the tiny preset's micro-batch of 8 takes 3 micro-steps in
# one process but does not split over two (8 x 2 does not divide 24), so each of two
# processes takes 2 micro-steps of 6 (micro_batch_size is the preset's, not set here)
BATCH = [a for a in SMALL if not a.startswith(("micro_batch_size=", "tokens_per_step="))]
STEPS = ["--max-steps", "4", "--set", *BATCH, "tokens_per_step=1536", "eval_interval=2",
         "checkpoint_interval=4"]


def torchrun(out_dir, run, nproc, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "cc2gpt.train", "--data", str(out_dir), "--preset", "tiny", "--out", str(run), *STEPS,
           *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


@pytest.fixture(scope="module")
def one_process(out_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("dist") / "one"
    assert train_main(["--data", str(out_dir), "--preset", "tiny", "--out", str(run), *STEPS]) == 0
    return run


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_match_one(parallel, one_process, out_dir, tmp_path):
    err = torchrun(out_dir, tmp_path / "two", 2, f"parallel={parallel}")
    assert "2 micro-step(s) of 6 x 2 process(es)" in err
    one, two = read_metrics(one_process), read_metrics(tmp_path / "two")
    assert [r["step"] for r in two] == [r["step"] for r in one]
    for a, b in zip(one, two):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5), a["step"]
        if "val_loss" in a:
            assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
    # the checkpoint holds the full (unsharded) model, as one process writes it
    shapes = [{k: v.shape for k, v in read_checkpoint(run / "checkpoints/step_00000004")["model"].items()}
              for run in (one_process, tmp_path / "two")]
    assert shapes[0] == shapes[1]
