"""Sampling from a GPT: KV cache, batched prompts of different lengths, streaming."""

from typing import Callable

import torch
import torch.nn.functional as F

from .gpt import GPT, KVCache


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None):
    """One token id per row of logits (B, V). temperature 0 is greedy; top_k keeps the k most
    likely tokens, top_p the smallest set whose probability reaches p (applied after top_k)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = F.softmax(sorted_logits, dim=-1)
        # drop a token when the ones more likely than it already reach top_p (the first always stays)
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _check_args(prompts, max_new_tokens, temperature, top_k, top_p, vocab_size):
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate needs at least one prompt, each of at least one token")
    bad = [t for p in prompts for t in p if not 0 <= t < vocab_size]
    if bad:
        raise ValueError(f"prompt token ids {bad[:5]} are outside the vocabulary [0, {vocab_size})")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def left_pad(prompts: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts of different lengths as one (B, L) batch, left-padded with zeros, and the
    (B, L) mask of real tokens."""
    B, L = len(prompts), max(len(p) for p in prompts)
    tokens = torch.zeros(B, L, dtype=torch.long, device=device)
    valid = torch.zeros(B, L, dtype=torch.bool, device=device)
    for row, p in enumerate(prompts):
        tokens[row, L - len(p):] = torch.tensor(p, dtype=torch.long)
        valid[row, L - len(p):] = True
    return tokens, valid


@torch.inference_mode()
def generate(model: GPT, prompts: list[list[int]], max_new_tokens: int,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             eos_id: int | None = None, seed: int | None = None, use_cache: bool = True,
             on_token: Callable[[int, int], None] | None = None) -> list[list[int]]:
    """Continue each prompt by up to max_new_tokens tokens; returns the new tokens only.

    A row stops at eos_id (the EOS itself is not returned) or after max_new_tokens. Prompts of
    different lengths are left-padded into one batch; padding is masked out and positions count
    real tokens only, so each row gets what it would get alone. on_token(row, token) is called
    for every returned token as soon as it is sampled (streaming). seed makes sampling
    reproducible. Prompts longer than block_size keep their last block_size tokens; once a row
    outgrows the context, generation continues on a sliding window (without the cache).
    """
    _check_args(prompts, max_new_tokens, temperature, top_k, top_p, model.config.vocab_size)
    block_size = model.config.block_size
    device = next(model.parameters()).device
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    tokens, valid = left_pad([list(p)[-block_size:] for p in prompts], device)
    (B, L), padded = tokens.shape, not bool(valid.all())

    was_training = model.training
    model.eval()
    cache = None
    if use_cache:
        dtype = next(model.parameters()).dtype
        cache = KVCache(model.config, B, min(block_size, L + max_new_tokens), dtype, device)
    out: list[list[int]] = [[] for _ in range(B)]
    done = [False] * B
    try:
        for _ in range(max_new_tokens):
            if cache is not None and tokens.size(1) <= cache.max_len:
                new = tokens[:, cache.pos:]  # the whole prompt first, then one token per step
                x = model.features(new, kv_cache=cache, valid=valid if padded else None)
            else:  # no cache, or the context is full: run the (last) window again
                cache = None
                window, window_valid = tokens[:, -block_size:], valid[:, -block_size:]
                x = model.features(window, valid=None if window_valid.all() else window_valid)
            logits = model.lm_head(x[:, -1])  # the last position's only
            next_ids = sample_next(logits, temperature, top_k, top_p, generator)
            for row, token in enumerate(next_ids.tolist()):
                if done[row]:
                    continue
                if token == eos_id:
                    done[row] = True
                    continue
                out[row].append(token)
                if on_token is not None:
                    on_token(row, token)
            if all(done):
                break
            tokens = torch.cat([tokens, next_ids[:, None]], dim=1)
            valid = torch.cat([valid, torch.ones(B, 1, dtype=torch.bool, device=device)], dim=1)
    finally:
        model.train(was_training)
    return out
