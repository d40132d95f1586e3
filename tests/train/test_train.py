"""End-to-end behaviour of `cc2gpt train` on real text: learning, outputs, exact resume,
damaged checkpoints, tokenizer checksum refusal, the NaN guard, the time budget (on a fake
clock) and a graceful stop on SIGTERM."""

import copy
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cc2gpt.tokenizer import Tokenizer
from cc2gpt.tokenizer.shards import open_split
import torch.distributed.checkpoint as dcp

from cc2gpt.train.checkpoint import list_checkpoints, read_checkpoint
from cc2gpt.train.cli import main as train_main
from cc2gpt.train.config import TrainConfig, apply_overrides, load_preset
from cc2gpt.train.schedule import lr_at
from cc2gpt.train.trainer import train as run_training

from .conftest import SMALL, read_metrics

REPO = Path(__file__).resolve().parents[2]


def train(out_dir, run, *extra):
    return train_main(["--data", str(out_dir), "--preset", "tiny", "--out", str(run), "--set", *SMALL, *extra])


def losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run)}


@pytest.fixture(scope="module")
def run20(out_dir, tmp_path_factory) -> Path:
    """A finished 20-step run with checkpoints at steps 10 and 20."""
    run = tmp_path_factory.mktemp("runs") / "run20"
    assert train(out_dir, run, "--max-steps", "20") == 0
    return run


def test_loss_falls_and_run_folder_is_complete(run20, out_dir):
    records = read_metrics(run20)
    assert [r["step"] for r in records] == list(range(1, 21))
    first, last = records[0], records[-1]
    assert last["loss"] < first["loss"] - 0.8  # from ~ln(512)=6.2 down past the unigram level
    assert all(r["tokens_per_s"] > 0 and r["mfu"] > 0 for r in records)
    evaluated = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evaluated] == [10, 20]
    assert evaluated[1]["val_loss"] < evaluated[0]["val_loss"]
    # bits per byte = nats/token / ln 2 * tokens/byte; tokens/byte of the whole val split
    # (decoded document by document) is close to that of the evaluated windows
    tok = Tokenizer.from_file(run20 / "tokenizer.model")
    val = open_split(out_dir, "val")
    n_bytes = sum(len(tok.decode(s.document(i)).encode()) for s in val for i in range(s.num_docs))
    expected = 1 / math.log(2) * sum(s.num_tokens for s in val) / n_bytes
    assert evaluated[1]["val_bpb"] / evaluated[1]["val_loss"] == pytest.approx(expected, rel=0.05)
    assert (run20 / "loss.png").stat().st_size > 1000
    config = json.loads((run20 / "config.json").read_text())
    assert config["model"]["n_layer"] == 2 and config["model"]["vocab_size"] == 512
    assert config["lr"] == 0.003 and config["max_steps"] == 20
    assert (run20 / "tokenizer.model").read_bytes() == (out_dir / "tokenizer/tokenizer.model").read_bytes()
    assert [s for s, _ in list_checkpoints(run20)] == [10, 20]
    ckpt = read_checkpoint(run20 / "checkpoints/step_00000020")  # a DCP folder, read whole
    assert ckpt["tokenizer_sha256"] == hashlib.sha256((run20 / "tokenizer.model").read_bytes()).hexdigest()
    assert ckpt["train"]["data_position"] == 20 * 2048 // 64 and ckpt["config"]["max_steps"] == 20
    assert ckpt["model"]["lm_head.weight"].shape == (512, 64)


def test_resume_logs_the_same_losses(run20, out_dir, tmp_path):
    run = shutil.copytree(run20, tmp_path / "run")
    shutil.rmtree(run / "checkpoints/step_00000020")  # as if killed between steps 10 and 20
    assert train(out_dir, run, "--max-steps", "20", "--resume") == 0
    assert losses(run) == losses(run20)  # exactly, steps 11..20 recomputed


def test_resume_skips_a_damaged_newest_checkpoint(run20, out_dir, tmp_path, capsys):
    run = shutil.copytree(run20, tmp_path / "run")
    shard, = (run / "checkpoints/step_00000020").glob("*.distcp")
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # a truncated copy
    (run / "checkpoints/.step_00000030.tmp").mkdir()  # killed mid-save
    (run / "checkpoints/.step_00000030.tmp/__0_0.distcp").write_bytes(b"partial")
    assert train(out_dir, run, "--max-steps", "20", "--resume") == 0
    assert "skipping unreadable checkpoint" in capsys.readouterr().err
    assert losses(run) == losses(run20)


def test_refuses_data_with_another_tokenizer(run20, other_out_dir, tmp_path, capsys):
    run = shutil.copytree(run20, tmp_path / "run")
    assert train(other_out_dir, run, "--max-steps", "30", "--resume") == 1
    err = capsys.readouterr().err
    assert "refusing" in err and "sha256" in err
    assert [s for s, _ in list_checkpoints(run)] == [10, 20]  # nothing trained or written


def test_refuses_to_overwrite_a_run_without_resume(run20, out_dir, capsys):
    assert train(out_dir, run20, "--max-steps", "30") == 1
    assert "--resume" in capsys.readouterr().err


def test_nan_guard_stops_naming_the_step(run20, out_dir, tmp_path, capsys):
    run = shutil.copytree(run20, tmp_path / "run")
    path = run / "checkpoints/step_00000020"
    ckpt = read_checkpoint(path)
    ckpt["model"]["transformer.h.0.mlp.c_fc.weight"][0, 0] = float("nan")
    dcp.save({k: ckpt[k] for k in ("model", "optimizer", "train")}, checkpoint_id=path)
    assert train(out_dir, run, "--max-steps", "25", "--resume") == 1
    err = capsys.readouterr().err
    assert "training loss is not finite since step 21 (nan at step 21)" in err
    assert [s for s, _ in list_checkpoints(run)] == [10, 20]


def test_bad_overrides_and_batch_geometry_are_clear_errors(out_dir, tmp_path, capsys):
    assert train(out_dir, tmp_path / "a", "model.n_layers=2") == 1
    assert "GPTConfig has no field 'n_layers'" in capsys.readouterr().err
    assert train(out_dir, tmp_path / "b", "tokens_per_step=1000") == 1
    assert "must be a multiple of block_size" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "auto"])
def test_autocast_precisions_train(dtype, out_dir, tmp_path):
    """bf16 autocast and fp16 with the gradient scaler run on CPU (tiny steps: bf16
    matmuls are slow on CPUs without bf16 units); auto is recorded as what it chose."""
    run = tmp_path / dtype
    assert train(out_dir, run, "tokens_per_step=256", "micro_batch_size=4", f"dtype={dtype}",
                 "eval_interval=0", "checkpoint_interval=2", "--max-steps", "2") == 0
    config = json.loads((run / "config.json").read_text())
    assert config["dtype"] == dtype if dtype != "auto" else config["dtype"] in ("fp32", "bf16")
    assert losses(run)[1] == pytest.approx(math.log(512), abs=0.3)  # an untrained model's loss
    ckpt = read_checkpoint(run / "checkpoints/step_00000002")
    assert bool(ckpt["train"].get("scaler")) == (config["dtype"] == "fp16")  # the scaler's state resumes too


class FakeClock:
    """Seconds that advance by `tick` at every reading: the trainer reads its clock at the start
    and at the end of every step, so each step takes exactly one tick."""

    def __init__(self, tick: float):
        self.tick, self.now = tick, 0.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_time_budget_stops_the_run_with_the_schedule_decayed(out_dir, tmp_path, capsys):
    cfg = TrainConfig.from_dict(apply_overrides(load_preset("tiny"), [
        *SMALL, "checkpoint_interval=100000", "eval_interval=100000", "max_steps=100000",
        "max_time=3"]))
    given = copy.deepcopy(cfg)
    run = tmp_path / "timed"
    last = run_training(cfg, out_dir, run, clock=FakeClock(0.25))
    assert cfg == given  # the caller's config is not changed; the resolved one is RUN's
    assert "allocator: glibc keeps freed memory for this run" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["model"]["vocab_size"] == 512
    records = read_metrics(run)
    assert last == records[-1] and last["step"] == 12  # 3 s of 0.25 s steps, then evaluated
    assert last["elapsed_s"] == 3.0 and "val_bpb" in last
    assert {r["tokens_per_s"] for r in records} == {2048 / 0.25}
    # the cosine runs over the budget: step n's lr is the schedule's at n x 0.25 s spent
    assert [r["lr"] for r in records] == [lr_at(n, cfg, n * 0.25) for n in range(12)]
    assert last["lr"] < 0.2 * 0.003 < records[5]["lr"]
    (_, path), = list_checkpoints(run)  # the final checkpoint, recording the time spent
    assert read_checkpoint(path)["train"]["elapsed"] == 3.0


def test_sigterm_writes_a_checkpoint_and_resume_continues_exactly(out_dir, tmp_path):
    """A real `python -m train` process gets a real SIGTERM mid-run; the resumed run logs
    the same losses as an uninterrupted one (wsd with no decay: the lr does not depend on
    the run's length, so the interrupted run can be open-ended)."""
    flat = ["schedule=wsd", "decay_fraction=0", "checkpoint_interval=0", "eval_interval=0"]
    run = tmp_path / "stopped"
    cmd = [sys.executable, "-m", "train", "--data", str(out_dir), "--preset", "tiny", "--out", str(run),
           "--max-steps", "100000", "--set", *SMALL, *flat]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ((run / "metrics.jsonl").exists() and len(losses(run)) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "--resume" in err
    stopped = max(losses(run))
    assert [s for s, _ in list_checkpoints(run)] == [stopped]
    assert train(out_dir, run, *flat, "--resume", "--max-steps", str(stopped + 3)) == 0
    straight = tmp_path / "straight"
    assert train(out_dir, straight, *flat, "--max-steps", str(stopped + 3)) == 0
    assert losses(run) == losses(straight)
