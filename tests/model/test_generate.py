import pytest
import torch

from model import generate, sample_next

PROMPTS = [[5, 17, 3], [40, 2, 9, 11, 60, 7, 1, 33], [8]]


def test_cached_greedy_equals_uncached_for_every_switch(make_gpt, switches):
    model = make_gpt(**switches)
    cached = generate(model, PROMPTS, 20, temperature=0)
    assert cached == generate(model, PROMPTS, 20, temperature=0, use_cache=False)
    assert all(len(row) == 20 for row in cached)
    assert len({t for row in cached for t in row}) > 5  # a real continuation, not one token


def test_batched_prompts_of_different_lengths_equal_each_alone(make_gpt, switches):
    model = make_gpt(**switches)
    batched = generate(model, PROMPTS, 12, temperature=0)
    alone = [generate(model, [p], 12, temperature=0)[0] for p in PROMPTS]
    assert batched == alone


def test_cache_matches_full_forward_logits(make_gpt):
    from model import KVCache
    model = make_gpt(pos_emb="rope", qk_norm=True)
    idx = torch.randint(0, 97, (2, 20))
    full = model(idx)
    cache = KVCache(model.config, 2, 20, torch.float64, "cpu")
    steps = [model(idx[:, :8], kv_cache=cache)]  # prefill, then chunks and single tokens
    steps += [model(idx[:, 8:13], kv_cache=cache)]
    steps += [model(idx[:, t:t + 1], kv_cache=cache) for t in range(13, 20)]
    torch.testing.assert_close(torch.cat(steps, 1), full)


def test_generation_beyond_the_context_slides_the_window(make_gpt):
    model = make_gpt(block_size=16)
    long_prompt = list(range(1, 21))  # longer than block_size: keeps its last 16 tokens
    out = generate(model, [long_prompt, [3, 4]], 30, temperature=0)
    assert out == generate(model, [long_prompt, [3, 4]], 30, temperature=0, use_cache=False)
    assert out[0] == generate(model, [long_prompt[-16:]], 30, temperature=0)[0]
    assert [len(r) for r in out] == [30, 30]


def test_seeded_sampling_is_reproducible(make_gpt):
    model = make_gpt()
    kw = dict(temperature=1.0, top_k=50, top_p=0.95)
    a = generate(model, PROMPTS, 15, seed=1, **kw)
    assert a == generate(model, PROMPTS, 15, seed=1, **kw)
    assert a == generate(model, PROMPTS, 15, seed=1, use_cache=False, **kw)
    assert a != generate(model, PROMPTS, 15, seed=2, **kw)


def test_top_k_one_is_greedy(make_gpt):
    model = make_gpt()
    assert (generate(model, PROMPTS, 10, temperature=1.5, top_k=1, seed=0)
            == generate(model, PROMPTS, 10, temperature=0))


def test_eos_stops_each_row_and_max_new_tokens(make_gpt):
    model = make_gpt()
    greedy = generate(model, PROMPTS, 10, temperature=0)
    eos = greedy[0][3]
    stopped = generate(model, PROMPTS, 10, temperature=0, eos_id=eos)
    for full, row in zip(greedy, stopped):
        cut = full.index(eos) if eos in full else len(full)
        assert row == full[:cut]  # the EOS itself is not returned
    assert generate(model, PROMPTS, 4, temperature=0) == [r[:4] for r in greedy]
    assert generate(model, PROMPTS, 0) == [[], [], []]


def test_on_token_streams_every_token_in_order(make_gpt):
    model = make_gpt()
    seen = []
    out = generate(model, PROMPTS, 8, temperature=0.8, seed=3,
                   on_token=lambda row, tok: seen.append((row, tok)))
    assert [[t for r, t in seen if r == row] for row in range(3)] == out
    assert [r for r, _ in seen[:3]] == [0, 1, 2]  # streamed step by step, not row by row


def test_sample_next_truncations_and_temperature():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(4000, 1)
    g = torch.Generator().manual_seed(0)

    def freq(**kw):
        return torch.bincount(sample_next(logits, generator=g, **kw), minlength=4) / 4000
    torch.testing.assert_close(freq(), torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03, rtol=0)
    top_k = freq(top_k=2)
    assert top_k[2:].sum() == 0
    torch.testing.assert_close(top_k[:2], torch.tensor([0.625, 0.375]), atol=0.03, rtol=0)
    top_p = freq(top_p=0.9)  # 0.5 + 0.3 < 0.9, so the nucleus is the first three tokens
    assert top_p[3] == 0 and top_p[2] > 0.1
    assert freq(top_p=0.5)[1:].sum() == 0  # the first token alone reaches p
    cold = freq(temperature=0.25)  # p**4, renormalized: 0.5**4 / sum = 0.87
    assert cold[0] == pytest.approx(0.87, abs=0.03)
    assert sample_next(logits[:2], temperature=0).tolist() == [0, 0]


@pytest.mark.parametrize("kw, match", [
    (dict(prompts=[]), "prompt"), (dict(prompts=[[1], []]), "prompt"),
    (dict(prompts=[[1, 97]]), "outside the vocabulary"), (dict(prompts=[[-1]]), "outside"),
    (dict(temperature=-1), "temperature"), (dict(top_k=0), "top_k"), (dict(top_p=1.5), "top_p"),
])
def test_bad_arguments_are_clear_errors(make_gpt, kw, match):
    args = dict(prompts=[[1, 2]], max_new_tokens=3) | kw
    with pytest.raises(ValueError, match=match):
        generate(make_gpt(), **args)
