"""LoRA adapters against Hugging Face peft's LoRA on the same Linear layer and matrices, and
their place in a GPT: exact start, only adapters train, merging changes nothing."""

import math

import pytest
import torch
import torch.nn as nn

from cc2gpt.model import GPT, preset
from cc2gpt.model.lora import LoRALinear, apply_lora, merge_lora

peft = pytest.importorskip("peft")


class One(nn.Module):
    def __init__(self, lin):
        super().__init__()
        self.lin = lin

    def forward(self, x):
        return self.lin(x)


@pytest.mark.parametrize("bias", [True, False])
def test_output_and_gradients_match_peft(bias):
    torch.manual_seed(0)
    base = nn.Linear(24, 40, bias=bias).double()
    ours = LoRALinear(nn.Linear(24, 40, bias=bias).double(), rank=4, alpha=8)
    ours.load_state_dict(base.state_dict(), strict=False)
    theirs = peft.get_peft_model(One(base), peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                            target_modules=["lin"]))
    lin = theirs.base_model.model.lin
    with torch.no_grad():  # same initial matrices; B non-zero so every gradient path counts
        ours.lora_B.normal_()
        lin.lora_A["default"].weight.copy_(ours.lora_A.t())
        lin.lora_B["default"].weight.copy_(ours.lora_B.t())
    x = torch.randn(3, 5, 24, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ours(xa), theirs(xb)
    torch.testing.assert_close(ya, yb)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(xa.grad, xb.grad)
    torch.testing.assert_close(ours.lora_A.grad, lin.lora_A["default"].weight.grad.t())
    torch.testing.assert_close(ours.lora_B.grad, lin.lora_B["default"].weight.grad.t())
    assert lin.base_layer.weight.grad is None  # peft freezes the base; so do we below
    merged = theirs.merge_and_unload().lin
    torch.testing.assert_close(ours.merged().weight, merged.weight)


def test_init_is_the_books_and_starts_from_the_base_model():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(768, 768), rank=16, alpha=16)
    assert layer.lora_A.shape == (768, 16) and layer.lora_B.shape == (16, 768)
    assert layer.lora_B.abs().max() == 0
    # kaiming_uniform_(a=sqrt(5)) on the book's (in, rank) matrix: U(-1/sqrt(rank), 1/sqrt(rank))
    bound = 1 / math.sqrt(16)
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.abs().max() > 0.95 * bound


def test_adapted_gpt_trains_only_adapters_and_merges_exactly():
    torch.manual_seed(0)
    model = GPT(preset("gpt2-tiny", vocab_size=64, block_size=16, n_layer=2, n_embd=32, n_head=2))
    idx = torch.randint(0, 64, (2, 16))
    before = model(idx).detach()
    n = apply_lora(model, rank=4, alpha=8)
    assert n == 2 * 4  # c_attn, attn.c_proj, c_fc, mlp.c_proj per block
    torch.testing.assert_close(model(idx), before)  # B = 0: exactly the base model
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.endswith(("lora_A", "lora_B")) for name in trainable)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    frozen = model.transformer.h[0].attn.c_attn.weight.clone()
    for _ in range(3):
        loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(model.transformer.h[0].attn.c_attn.weight, frozen)
    adapted = model(idx).detach()
    assert not torch.allclose(adapted, before)
    assert merge_lora(model) == n
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    torch.testing.assert_close(model(idx), adapted, atol=1e-5, rtol=1e-5)
    assert set(model.state_dict()) == set(GPT(model.config).state_dict())


def test_unknown_target_is_named():
    model = GPT(preset("gpt2-tiny", vocab_size=64, n_layer=1))
    with pytest.raises(ValueError, match="q_proj"):
        apply_lora(model, 4, 8, targets=("q_proj",))
