"""`cc2gpt finetune classify|instruct`, `cc2gpt classify` and `generate --instruction` end to
end on slices of the shared SMS spam and instruction data, from a small pretrained run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cc2gpt
from cc2gpt.model.lora import LoRALinear, merge_lora
from cc2gpt.train.checkpoint import load_latest
from cc2gpt.train.cli import main as train_main
from cc2gpt.train.run import load_run

from .conftest import DATA, SMALL

REPO = Path(__file__).resolve().parents[2]
SMS = DATA / "finetune/SMSSpamCollection.tsv"
INSTRUCTIONS = DATA / "finetune/instruction-data.json"


@pytest.fixture(scope="module")
def base(out_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ft") / "base"
    assert train_main(["--data", str(out_dir), "--preset", "gpt2-tiny", "--out", str(run), "--max-steps", "10",
                       "--set", *SMALL, "model.block_size=128", "eval_interval=0"]) == 0
    return run


@pytest.fixture(scope="module")
def sms(tmp_path_factory) -> Path:
    """The first 400 messages of the SMS collection (CRLF kept), 58 of them spam."""
    path = tmp_path_factory.mktemp("sms") / "sms.tsv"
    path.write_bytes(b"".join(SMS.read_bytes().splitlines(keepends=True)[:400]))
    return path


def finetune(*args) -> int:
    return cc2gpt.main(["finetune", *map(str, args)])


def classify_run(base, sms, out, *extra):
    assert finetune("classify", "--checkpoint", base, "--data", sms, "--out", out, "--balance",
                    "--epochs", "1", "--lr", "1e-3", *extra) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("trainable", ["head", "last-block", "all", "lora"])
def test_classify_trains_what_it_is_told(trainable, base, sms, tmp_path, capsys):
    m = classify_run(base, sms, tmp_path / "clf", "--trainable", trainable)
    assert set(m["accuracy"]) == {"train", "val", "test"}
    assert [e["epoch"] for e in m["epochs"]] == [0, 1]
    assert m["examples"] == {"train": 81, "val": 11, "test": 24}  # 2 x 58 balanced, 70/10/20
    gpt, _, _ = load_run(base)
    C, L = gpt.config.n_embd, gpt.config.n_layer
    head = C * 2 + 2
    block = sum(p.numel() for p in gpt.transformer.h[-1].parameters())
    expected = {"head": head, "last-block": head + block + 2 * C, "all": m["total_params"],
                "lora": head + L * 8 * (C + 3 * C + C + C + C + 4 * C + 4 * C + C)}[trainable]
    assert m["trainable_params"] == expected
    tuned = load_latest(tmp_path / "clf")[1]["model"]
    for name, before in gpt.state_dict().items():  # frozen weights are untouched
        if name == "lm_head.weight":
            continue
        same = torch.equal(tuned["gpt." + name], before)
        moves = trainable == "all" or trainable == "last-block" and f".h.{L - 1}." in name
        moves |= trainable == "last-block" and name.startswith("transformer.ln_f")
        assert same != moves, name
    if trainable == "lora":
        assert any(k.endswith("lora_B") and v.abs().max() > 0 for k, v in tuned.items())
    capsys.readouterr()
    assert cc2gpt.main(["classify", "--checkpoint", str(tmp_path / "clf"), "--text",
                        "WINNER!! Claim your free prize now, call 09061701461"]) == 0
    label, prob = capsys.readouterr().out.split("\t")
    assert label in ("ham", "spam") and 0.5 <= float(prob) <= 1


def test_resume_continues_exactly(base, sms, tmp_path):
    straight = classify_run(base, sms, tmp_path / "a", "--trainable", "all", "--epochs", "2")
    classify_run(base, sms, tmp_path / "b", "--trainable", "all", "--epochs", "1")
    resumed = classify_run(base, sms, tmp_path / "b", "--trainable", "all", "--epochs", "2", "--resume")
    assert resumed["epochs"] == straight["epochs"]
    a, b = load_latest(tmp_path / "a")[1]["model"], load_latest(tmp_path / "b")[1]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert finetune("classify", "--checkpoint", base, "--data", sms, "--out", tmp_path / "a") == 1


def test_two_processes_match_one(base, sms, tmp_path):
    one = classify_run(base, sms, tmp_path / "one", "--trainable", "all")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "cc2gpt.train.finetune", "classify", "--checkpoint", str(base), "--data", str(sms),
           "--out", str(tmp_path / "two"), "--balance", "--epochs", "1", "--lr", "1e-3",
           "--trainable", "all"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    two = json.loads((tmp_path / "two/metrics.json").read_text())
    assert two["epochs"][1]["train_loss"] == pytest.approx(one["epochs"][1]["train_loss"], rel=1e-4)
    assert two["accuracy"] == one["accuracy"]


def test_instruct_end_to_end(base, tmp_path, capsys):
    data = tmp_path / "instructions.json"
    data.write_text(json.dumps(json.loads(INSTRUCTIONS.read_text())[:40]))
    for mask in ([], ["--mask-prompt"]):
        out = tmp_path / f"inst{len(mask)}"
        assert finetune("instruct", "--checkpoint", base, "--data", data, "--out", out, "--epochs", "2",
                        "--lr", "2e-3", "--template", "phi3", "--max-new-tokens", "8", *mask) == 0
        m = json.loads((out / "metrics.json").read_text())
        assert m["examples"] == {"train": 34, "val": 2, "test": 4} and m["mask_prompt"] == bool(mask)
        before, after = m["response_loss"]["before"], m["response_loss"]["after"]
        assert after["train"] < before["train"] - 0.5
        responses = json.loads((out / "test_responses.json").read_text())
        assert [r["instruction"] for r in responses] == [e["instruction"] for e in
                                                          json.loads(data.read_text())[34:38]]
        assert all(set(r) == {"instruction", "input", "output", "model_response"} for r in responses)
    capsys.readouterr()
    assert cc2gpt.main(["generate", "--checkpoint", str(out), "--instruction", "Name a color.",
                        "--temperature", "0", "--max-new-tokens", "8"]) == 0
    assert "<|user|>" not in capsys.readouterr().out  # the response alone


def test_instruct_lora_merge_exports(base, tmp_path):
    data = tmp_path / "instructions.json"
    data.write_text(json.dumps(json.loads(INSTRUCTIONS.read_text())[:20]))
    for merge in ([], ["--merge"]):
        out = tmp_path / f"lora{len(merge)}"
        assert finetune("instruct", "--checkpoint", base, "--data", data, "--out", out, "--epochs", "1",
                        "--trainable", "lora", "--lr", "1e-2", "--max-new-tokens", "4", *merge) == 0
        model, _, meta = load_run(out)
        assert any(isinstance(m, LoRALinear) for m in model.modules()) != bool(merge)
        assert cc2gpt.main(["export-hf", str(out), str(out / "hf")]) == 0
    idx = torch.randint(0, 512, (1, 16))
    with torch.no_grad():  # trained identically: merged or not, the same function
        torch.testing.assert_close(load_run(tmp_path / "lora0")[0](idx), load_run(tmp_path / "lora1")[0](idx),
                                   atol=1e-5, rtol=1e-5)


def test_a_lora_tuned_run_is_a_base_too(base, sms, tmp_path):
    """Fine-tuning a run that holds unmerged adapters starts from its merged weights."""
    data = tmp_path / "instructions.json"
    data.write_text(json.dumps(json.loads(INSTRUCTIONS.read_text())[:16]))
    assert finetune("instruct", "--checkpoint", base, "--data", data, "--out", tmp_path / "inst",
                    "--epochs", "1", "--trainable", "lora", "--lr", "1e-2", "--max-new-tokens", "2") == 0
    m = classify_run(tmp_path / "inst", sms, tmp_path / "clf", "--trainable", "lora")
    merged, _, _ = load_run(tmp_path / "inst")
    merge_lora(merged)
    tuned = load_latest(tmp_path / "clf")[1]["model"]
    assert torch.equal(tuned["gpt.transformer.h.0.attn.c_attn.weight"],
                       merged.transformer.h[0].attn.c_attn.weight)
    assert m["trainable_params"] < m["total_params"] / 5
