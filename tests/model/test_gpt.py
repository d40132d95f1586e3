import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from cc2gpt.model import GPT, PRESETS, GPTConfig, preset


@pytest.mark.parametrize("name, total", [
    # Hugging Face's parameter counts of gpt2, gpt2-medium, gpt2-large, gpt2-xl
    ("gpt2-124m", 124_439_808), ("gpt2-350m", 354_823_168),
    ("gpt2-774m", 774_030_080), ("gpt2-1.5b", 1_557_611_200),
])
def test_gpt2_presets_have_gpt2_parameter_counts(name, total):
    with torch.device("meta"):
        model = GPT(preset(name))
    assert model.num_params(non_embedding=False) == total
    c = model.config
    assert model.num_params() == total - c.block_size * c.n_embd  # the position table


def test_preset_overrides_and_errors():
    c = preset("gpt2-tiny", vocab_size=4096, dropout=0.1)
    assert (c.vocab_size, c.dropout, c.n_layer) == (4096, 0.1, PRESETS["gpt2-tiny"].n_layer)
    assert PRESETS["gpt2-tiny"].vocab_size != 4096  # the preset itself is untouched
    with pytest.raises(ValueError, match="unknown preset"):
        preset("gpt5")
    with pytest.raises(ValueError, match="n_layers"):
        preset("gpt2-tiny", n_layers=3)
    with pytest.raises(ValueError, match="mlp"):
        GPTConfig(mlp="geglu")
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=100, n_head=3)


def test_gpt2_parameter_names_follow_the_checkpoint_layout():
    names = set(GPT(preset("gpt2-tiny", n_layer=1)).state_dict())
    assert names == {
        "transformer.wte.weight", "transformer.wpe.weight",
        "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
        "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
        "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
        "transformer.h.0.ln_2.weight", "transformer.h.0.ln_2.bias",
        "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
        "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias",
        "transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight",
    }


def test_gpt2_init_and_loss_at_init():
    torch.manual_seed(0)
    c = preset("gpt2-tiny", n_layer=4, vocab_size=512)
    model = GPT(c)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.transformer.h[0].attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    scaled = 0.02 / math.sqrt(2 * c.n_layer)
    for block in model.transformer.h:
        assert block.attn.c_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
        assert block.mlp.c_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
        assert block.mlp.c_fc.bias.abs().max() == 0
    idx, targets = torch.randint(0, 512, (2, 4, 64))
    logits = model(idx)
    assert logits.shape == (4, 64, 512)
    loss = model(idx, targets)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(math.log(512), abs=0.1)  # near-uniform predictions
    features = model.features(idx)
    assert features.shape == (4, 64, c.n_embd)
    torch.testing.assert_close(model.lm_head(features[:, -1:]), logits[:, -1:])


def test_every_switch_is_causal_and_learns(switches):
    torch.manual_seed(0)
    model = GPT(preset("gpt2-tiny", vocab_size=64, block_size=24, n_layer=2, n_head=2, n_embd=32,
                       **switches))
    idx = torch.randint(0, 64, (2, 24))
    changed = idx.clone()
    changed[:, 20:] = (changed[:, 20:] + 1) % 64
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :20], b[:, :20])  # the future does not leak into the past
    assert not torch.allclose(a[:, 20:], b[:, 20:])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = idx[:, :-1], idx[:, 1:]
    losses = []
    for _ in range(20):
        loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]  # memorizes a fixed batch


def test_rope_replaces_the_position_table_and_is_relative():
    model = GPT(preset("gpt2-tiny", pos_emb="rope", n_layer=1))
    assert "wpe" not in model.transformer
    from cc2gpt.model.gpt import apply_rope
    q, k = torch.randn(2, 1, 1, 32, dtype=torch.float64).unbind(0)
    cos, sin = model.rope_cos.double(), model.rope_sin.double()

    def score(i, j):
        return (apply_rope(q, cos[i], sin[i]) * apply_rope(k, cos[j], sin[j])).sum().item()
    assert score(5, 2) == pytest.approx(score(40, 37))  # depends on the offset only
    assert score(5, 2) != pytest.approx(score(5, 3))


def test_rmsnorm_and_qk_norm():
    torch.manual_seed(0)
    model = GPT(preset("gpt2-tiny", n_layer=1, norm="rmsnorm", qk_norm=True)).eval()
    assert isinstance(model.transformer.ln_f, torch.nn.RMSNorm)
    assert not any(n.endswith(("ln_1.bias", "ln_f.bias")) for n, _ in model.named_parameters())
    idx = torch.randint(0, 100, (1, 16))
    before = model(idx)
    attn = model.transformer.h[0].attn
    C = model.config.n_embd
    with torch.no_grad():  # QK-norm makes attention blind to the scale of queries and keys
        attn.c_attn.weight[: 2 * C] *= 7.0
        attn.c_attn.bias[: 2 * C] *= 7.0
    after = model(idx)
    torch.testing.assert_close(before, after, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["swiglu", "relu2"])
def test_mlp_variants(kind):
    torch.manual_seed(0)
    c = preset("gpt2-tiny", mlp=kind)
    mlp = GPT(c).transformer.h[0].mlp
    x = torch.randn(3, c.n_embd)
    h = x @ mlp.c_fc.weight.T + mlp.c_fc.bias
    if kind == "swiglu":
        assert c.hidden_dim % 64 == 0 and abs(c.hidden_dim - 8 * c.n_embd / 3) < 64
        gate, up = h[:, : c.hidden_dim], h[:, c.hidden_dim:]
        h = gate * torch.sigmoid(gate) * up
    else:
        h = torch.clamp(h, min=0) ** 2
    torch.testing.assert_close(mlp(x), h @ mlp.c_proj.weight.T + mlp.c_proj.bias)


def test_untied_head():
    c = preset("gpt2-tiny", tie_embeddings=False)
    model = GPT(c)
    assert model.lm_head.weight is not model.transformer.wte.weight
    tied = GPT(preset("gpt2-tiny"))
    assert (model.num_params(non_embedding=False) - tied.num_params(non_embedding=False)
            == c.vocab_size * c.n_embd)
    # non-embedding: untied drops the token table, keeps the head
    assert model.num_params() == tied.num_params()


def test_gelu_is_gpt2_tanh_gelu_with_its_gradient():
    from cc2gpt.model.gpt import gelu_tanh
    x = torch.linspace(-12, 12, 20001, dtype=torch.float64, requires_grad=True)
    ours, ref = gelu_tanh(x), F.gelu(x, approximate="tanh")
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    grads = [torch.autograd.grad(y.sum(), x)[0] for y in (ours, ref)]
    torch.testing.assert_close(*grads, rtol=0, atol=1e-12)


@pytest.mark.parametrize("tie", [True, False])
def test_fused_loss_matches_logits_and_cross_entropy(tie):
    # forward(idx, targets) in fp32 never runs lm_head (the fused op builds the logits a chunk
    # at a time); its loss and every gradient must be what the logits + F.cross_entropy give,
    # with ignored (-1) targets, across chunks of FUSED_LOSS_ROWS rows
    # (B*T = 2 * 1100 rows: two full chunks and a ragged one)
    from cc2gpt.model.gpt import FUSED_LOSS_ROWS
    torch.manual_seed(0)
    model = GPT(preset("gpt2-tiny", vocab_size=97, block_size=1100, n_layer=1, tie_embeddings=tie))
    head_calls = []
    model.lm_head.register_forward_hook(lambda module, args, out: head_calls.append(out.shape))
    idx = torch.randint(0, 97, (2, 1100))
    targets = idx.roll(-1, 1)
    targets[:, -7:] = -1
    assert 2 * 1100 > 2 * FUSED_LOSS_ROWS
    results = []
    for fused in (True, False):
        model.zero_grad()
        if fused:
            loss = model(idx, targets)
            assert head_calls == [] and loss.shape == ()
        else:
            loss = F.cross_entropy(model(idx).flatten(0, 1), targets.flatten(), ignore_index=-1)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (fused_loss, fused_grads), (ref_loss, ref_grads) = results
    torch.testing.assert_close(fused_loss, ref_loss)
    for a, b in zip(fused_grads, ref_grads):
        torch.testing.assert_close(a, b)
    # under bf16 autocast the loss stays fp32 (a bf16 loss would carry 2-3 digits)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16_loss = model(idx, targets)
    assert bf16_loss.dtype == torch.float32 and head_calls[-1] == (2, 1100, 97)
    assert bf16_loss.item() == pytest.approx(ref_loss.item(), rel=1e-2)


@pytest.mark.parametrize("kw", [{}, dict(pos_emb="rope", mlp="swiglu", tie_embeddings=False)])
def test_flops_per_token_matches_formula_and_flop_counter(kw):
    c = preset("gpt2-tiny", bias=False, vocab_size=512, block_size=64, **kw)
    model = GPT(c)
    n = model.num_params()
    assert model.flops_per_token() == 6 * n + 12 * c.n_layer * c.n_embd * c.block_size
    B, T = 2, c.block_size
    idx = torch.randint(0, c.vocab_size, (B, T))
    counter = FlopCounterMode(display=False)
    # the math kernel is made of matmuls the counter sees (CPU flash attention has no formula);
    # the loss from the logits, as the counter cannot look inside the fused head + loss op
    with sdpa_kernel(SDPBackend.MATH), counter:
        F.cross_entropy(model(idx).flatten(0, 1), idx.flatten()).backward()
    counted = counter.get_total_flops() / (B * T)
    # the counter sees matmuls only: the formula's extra norm weights are < 0.5% of N
    assert counted == pytest.approx(model.flops_per_token(), rel=0.01)


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    model = GPT(preset("gpt2-tiny", n_layer=1, dropout=0.2))
    idx = torch.randint(0, 100, (1, 16))
    assert not torch.equal(model(idx), model(idx))
    model.eval()
    torch.testing.assert_close(model(idx), model(idx), rtol=0, atol=0)
