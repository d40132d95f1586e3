"""torchrun on CPU with gloo: 2 processes train exactly as 1 process on the same global batch,
the preset's micro-batch lowered to fit them, under DDP, FSDP, tensor parallelism (alone and
FSDP x TP on 4 processes) and compiled DDP; a sharded
checkpoint written by 2 processes resumes on 1 and on 2 with the uninterrupted run's losses;
a model built on the meta device and sharded holds, gathered, the unsharded initial values."""

import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from cc2gpt.model import GPT
from cc2gpt.train.checkpoint import read_checkpoint
from cc2gpt.train.cli import main as train_main
from cc2gpt.train.config import TrainConfig

from .conftest import SMALL, read_metrics

REPO = Path(__file__).resolve().parents[2]
# 1536 tokens are 24 windows of 64: the tiny preset's micro-batch of 8 takes 3 micro-steps in
# one process but does not split over two (8 x 2 does not divide 24), so each of two
# processes takes 2 micro-steps of 6 (micro_batch_size is the preset's, not set here)
# Compiled runs take the first 2 steps without evaluating: every graph compiles once, and
# the warmup's lr does not depend on max_steps.
BATCH = [a for a in SMALL if not a.startswith(("micro_batch_size=", "tokens_per_step="))]
STEPS = ["--max-steps", "4", "--set", *BATCH, "tokens_per_step=1536", "eval_interval=2",
         "checkpoint_interval=2"]


def torchrun(out_dir, run, nproc, *extra, script=("-m", "cc2gpt.train")):
    args = ["--data", str(out_dir), "--preset", "tiny", "--out", str(run), *STEPS, *extra] \
        if script[0] == "-m" else list(extra)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           *script, *args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def assert_same_losses(one: Path, other: Path, steps=None):
    """`other` logged `one`'s losses (and validation losses where both evaluated) at
    `steps` (every step, the same set, by default)."""
    a_records = {r["step"]: r for r in read_metrics(one)}
    b_records = {r["step"]: r for r in read_metrics(other)}
    assert sorted(b_records) == sorted(a_records) if steps is None else set(steps) <= set(b_records)
    for step in steps or sorted(a_records):
        a, b = a_records[step], b_records[step]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5), step
        if "val_loss" in a and "val_loss" in b:
            assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4), step


@pytest.fixture(scope="module")
def one_process(out_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("dist") / "one"
    assert train_main(["--data", str(out_dir), "--preset", "tiny", "--out", str(run), *STEPS]) == 0
    return run


@pytest.fixture(scope="module")
def fsdp_two(out_dir, tmp_path_factory) -> tuple[Path, str]:
    run = tmp_path_factory.mktemp("dist") / "fsdp"
    return run, torchrun(out_dir, run, 2, "parallel=fsdp")


COMPILED = ["compile=true", "eval_interval=0", "--max-steps", "2"]


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_match_one(parallel, one_process, out_dir, tmp_path, request):
    if parallel == "fsdp":
        run, err = request.getfixturevalue("fsdp_two")
    else:
        run = tmp_path / "two"
        err = torchrun(out_dir, run, 2, "parallel=ddp")
    assert "2 micro-step(s) of 6 x 2 process(es)" in err
    assert_same_losses(one_process, run)
    # the checkpoint holds the same tensors whatever the wrapping (FSDP's shards, whole)
    shapes = [{k: v.shape for k, v in read_checkpoint(r / "checkpoints/step_00000004")["model"].items()}
              for r in (one_process, run)]
    assert shapes[0] == shapes[1]


@pytest.mark.parametrize("nproc,parallel", [(2, ["tp=2"]), (4, ["parallel=fsdp", "tp=2"])])
def test_tensor_parallel_matches_one_process(nproc, parallel, one_process, out_dir, tmp_path):
    """TP=2 alone and FSDP x TP = 2 x 2 (meta-device init, sharded checkpoints): the
    single-process losses; the 2 x 2 run's step-2 checkpoint resumes on one process."""
    run = tmp_path / "tp"
    err = torchrun(out_dir, run, nproc, *parallel)
    assert "tensor-parallel ranks" in err
    assert_same_losses(one_process, run)
    if nproc == 4:
        shutil.rmtree(run / "checkpoints/step_00000004")
        assert train_main(["--data", str(out_dir), "--out", str(run), *STEPS, "tp=1",
                           "parallel=ddp", "--resume"]) == 0
        assert_same_losses(one_process, run, steps=[3, 4])


@pytest.mark.parametrize("nproc", [1, 2])
def test_compiled_matches_eager(nproc, one_process, out_dir, tmp_path):
    """torch.compile (inductor) on one process and under DDP: the eager run's losses."""
    run = tmp_path / "compiled"
    if nproc == 1:
        assert train_main(["--data", str(out_dir), "--preset", "tiny", "--out", str(run), *STEPS,
                           *COMPILED]) == 0
    else:
        torchrun(out_dir, run, 2, "parallel=ddp", *COMPILED)
    assert_same_losses(one_process, run, steps=[1, 2])


@pytest.mark.parametrize("nproc", [1, 2])
def test_sharded_checkpoint_resumes_on_another_number_of_processes(nproc, fsdp_two, one_process,
                                                                   out_dir, tmp_path):
    """FSDP on 2 processes wrote steps 2 and 4; resumed from step 2 on `nproc` processes,
    steps 3 and 4 give the uninterrupted single-process run's losses."""
    run = shutil.copytree(fsdp_two[0], tmp_path / "resumed")
    shutil.rmtree(run / "checkpoints/step_00000004")
    if nproc == 1:
        assert train_main(["--data", str(out_dir), "--out", str(run), *STEPS, "--resume"]) == 0
    else:
        assert "resuming from" in torchrun(out_dir, run, 2, "--resume")
    assert_same_losses(one_process, run, steps=[3, 4])


WORKER = """
import sys
import torch
from dataclasses import asdict
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from cc2gpt.train import distributed as dist_utils
from cc2gpt.train.config import TrainConfig
from cc2gpt.train.parallel import build_model

d = dist_utils.setup()
for i, model in enumerate(eval(sys.argv[2])):
    cfg = TrainConfig(parallel="fsdp", seed=7, model=model)
    gpt, _ = build_model(cfg, d)
    local = sum(p.to_local().numel() for p in gpt.parameters())
    full = get_model_state_dict(gpt, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if d.is_main:
        torch.save({"local": local, "state": full}, f"{sys.argv[1]}/{i}.pt")
dist_utils.teardown(d)
"""


def test_meta_init_on_two_processes_gives_the_unsharded_values(tmp_path):
    """Built on the meta device, sharded over 2 processes and initialised per shard, the
    model gathered whole equals GPT(config) built on one process from the same seed (GPT-2
    and a Llama-style layout: rope buffers, RMSNorm, SwiGLU, QK-norm, untied head), and
    each rank held about half of it."""
    small = {"n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 64}
    models = [asdict(TrainConfig(model=m).model_config(512)) for m in (
        small, {**small, "pos_emb": "rope", "norm": "rmsnorm", "mlp": "swiglu", "qk_norm": True,
                "tie_embeddings": False})]
    (tmp_path / "worker.py").write_text(WORKER)
    torchrun(None, None, 2, str(tmp_path), repr(models), script=(str(tmp_path / "worker.py"),))
    for i, model in enumerate(models):
        torch.manual_seed(7)
        expected = GPT(TrainConfig(model=model).model_config(512))
        got = torch.load(tmp_path / f"{i}.pt", weights_only=True)
        assert got["state"].keys() == expected.state_dict().keys()
        for name, value in expected.state_dict().items():
            assert torch.equal(got["state"][name], value), name
        total = sum(p.numel() for p in expected.parameters())
        assert got["local"] <= total // 2 + 64 * 4, (got["local"], total)
