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
