import pytest
import torch

from cc2gpt.model import GPT, preset

# Every architecture switch, each on its own and all together.
SWITCHES = {
    "gpt2": {},
    "rope": dict(pos_emb="rope"),
    "rmsnorm": dict(norm="rmsnorm"),
    "qk_norm": dict(qk_norm=True),
    "swiglu": dict(mlp="swiglu"),
    "relu2": dict(mlp="relu2"),
    "untied": dict(tie_embeddings=False),
    "no_bias": dict(bias=False),
    "modern": dict(pos_emb="rope", norm="rmsnorm", qk_norm=True, mlp="swiglu",
                   tie_embeddings=False, bias=False),
}


def random_gpt(seed=0, dtype=torch.float64, **overrides) -> GPT:
    """A small GPT with random weights far from GPT-2's init, so greedy decoding does not
    just repeat one token (0.02 init copies the input token through the tied head);
    float64 so the orderings compared across code paths are exact."""
    kw = dict(vocab_size=97, block_size=64, n_layer=2, n_head=2, n_embd=32) | overrides
    torch.manual_seed(seed)
    model = GPT(preset("gpt2-tiny", **kw)).to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:  # norm weights near 1, biases near 0
                p.normal_(1.0 if "norm" in name or "ln" in name and "weight" in name else 0.0, 0.1)
            elif name.startswith(("transformer.wte", "transformer.wpe")):
                p.normal_(0.0, 0.1)
            else:
                p.normal_(0.0, 3.0 / p.shape[1] ** 0.5)
    return model.eval()


@pytest.fixture
def make_gpt():
    return random_gpt


@pytest.fixture(params=list(SWITCHES), ids=list(SWITCHES))
def switches(request):
    return SWITCHES[request.param]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny shapes gain nothing from intra-op threads, and on a shared 2-core machine
    oversubscribed threads make these tests ~5x slower; restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
