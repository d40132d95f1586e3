"""Activation checkpointing (train/parallel.py): the same losses and gradients as without it."""

import pytest
import torch
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper

from cc2gpt.model import GPT, GPTConfig
from cc2gpt.train.cli import main as train_main
from cc2gpt.train.parallel import apply_ac

from .conftest import SMALL, read_metrics

TINY = GPTConfig(vocab_size=256, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.1)


def loss_and_grads(mode: str):
    torch.manual_seed(0)
    model = GPT(TINY)
    apply_ac(model, mode)
    assert all(isinstance(b, CheckpointWrapper) for b in model.transformer.h) == (mode != "none")
    idx = torch.randint(0, 256, (4, 33), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)  # the dropout masks: recomputation must draw the same ones
    loss = model(idx[:, :-1], idx[:, 1:])
    loss.backward()
    names = [n for n, _ in GPT(TINY).named_parameters()]
    return loss.item(), dict(zip(names, (p.grad for p in model.parameters())))


@pytest.mark.parametrize("mode", ["selective", "full"])
def test_activation_checkpointing_gives_the_same_loss_and_gradients(mode):
    loss, grads = loss_and_grads("none")
    ac_loss, ac_grads = loss_and_grads(mode)
    assert ac_loss == loss
    for name, g in grads.items():
        torch.testing.assert_close(ac_grads[name], g, rtol=1e-5, atol=1e-7, msg=name)


def test_training_with_activation_checkpointing_logs_the_same_losses(out_dir, tmp_path):
    def losses(mode):
        run = tmp_path / mode
        assert train_main(["--data", str(out_dir), "--preset", "tiny", "--out", str(run),
                           "--max-steps", "3", "--set", *SMALL, "eval_interval=0",
                           f"activation_checkpointing={mode}"]) == 0
        return [r["loss"] for r in read_metrics(run)]
    assert losses("selective") == pytest.approx(losses("none"), rel=1e-6)


def test_plan_shards_the_weights_over_fsdp_and_tp_and_counts_activations(capsys):
    from cc2gpt.train.config import TrainConfig
    from cc2gpt.train.plan import plan

    def lines(world, **kw):
        cfg = TrainConfig(model_preset="gpt2-124m", micro_batch_size=4, dtype="bf16", **kw)
        return {name.split(" (")[0]: n for name, n, _ in plan(cfg, world, 50257)[1]}

    one, fsdp8, ddp8 = lines(1), lines(8, parallel="fsdp"), lines(8, parallel="ddp")
    P = 124_475_904  # GPT-2 124M with the vocabulary padded to 50304, head tied
    assert one["parameters"] == 4 * P and one["AdamW moments"] == 8 * P
    assert fsdp8["parameters"] == 4 * P / 8 and ddp8["parameters"] == 4 * P
    split = 12 * (768 * 2304 + 2304 + 768 * 768 + 768 * 3072 + 3072 + 3072 * 768)  # TP's share
    assert lines(8, parallel="fsdp", tp=2)["parameters"] == 4 * (split / 8 + (P - split) / 4)
    assert lines(2, parallel="ddp", tp=2)["parameters"] == 4 * (split / 2 + P - split)
    act = {m: lines(1, activation_checkpointing=m)["activations"] for m in ("none", "selective", "full")}
    assert act["none"] == 4 * 1024 * 12 * 17 * 768 * 2
    assert act["none"] > act["selective"] > act["full"]
    assert train_main(["--plan", "--preset", "gpt2-124m", "--world-size", "8", "--set",
                       "parallel=fsdp"]) == 0
    out = capsys.readouterr().out
    assert "fsdp data-parallel 8 x tensor-parallel 1" in out and "total per process" in out
