"""`cc2gpt train --plan`: the memory one process needs, worked out from the config alone
(nothing is built or trained), so a recipe can be checked before it is launched.

Per process, in bytes, for P parameters (embeddings included, a tied head once), L layers
of width d, micro-batch b windows of T tokens, vocabulary V; the weights are sharded over
S processes (FSDP: dp x tp; DDP: tp) and the activations inside a block over tp:

* parameters 4P/S (fp32 weights; autocast computes in bf16/fp16 from them), gradients
  4P/S, AdamW's two moments 8P/S;
* FSDP's all-gathered weights: two blocks at a time (the one computing, the next
  prefetched), 2 x 4 x P_block / tp;
* activations kept for the backward pass, per layer and token, in elements of the compute
  dtype: none 17d (the block's input, its norms' outputs, q, k, v, the attention output,
  the MLP's 4d input and GELU output, ...: 4d + 13d/tp, the 4d replicated across tp), selective 11d
  (block input and matmul/attention outputs: d + 10d/tp), full d (the block input alone),
  plus one layer's worth recomputed during its backward;
* the head and loss: under autocast the (b, T, V) logits in the compute dtype, in fp32,
  and fp32 log-probabilities (2 + 4 + 4 bytes per logit); in fp32 runs the fused head
  and loss builds FUSED_LOSS_ROWS rows of them at a time.

Activations are the least certain line: allocator fragmentation and temporaries add to it
(bench/parallel_memory.py measures them on CPU). Leave headroom of ~10-20%.
"""

import torch

from cc2gpt.model import GPT
from cc2gpt.model.gpt import FUSED_LOSS_ROWS

from .config import TrainConfig

ACT_ELEMENTS = {"none": (4, 13), "selective": (1, 10), "full": (1, 0)}  # (replicated, split by tp) x d


def plan(cfg: TrainConfig, world_size: int, vocab_size: int) -> tuple[str, list[tuple[str, float, str]]]:
    """(headline, [(line, bytes per process, how)]) of cfg on world_size processes."""
    c = cfg.model_config(vocab_size)
    with torch.device("meta"):
        model = GPT(c)
    P = model.num_params(non_embedding=False)
    P_block = sum(p.numel() for p in model.transformer.h[0].parameters())
    tp = cfg.tp
    if world_size % tp:
        raise ValueError(f"tp={tp} does not divide the {world_size} processes")
    dp = world_size // tp
    fsdp = cfg.parallel == "fsdp" and world_size > 1
    S = world_size if fsdp else tp
    b, T, d, L, V = cfg.micro_batch_size, c.block_size, c.n_embd, c.n_layer, c.vocab_size
    act = 4 if cfg.dtype == "fp32" else 2  # "auto" plans for GPUs: bf16
    rep, split = ACT_ELEMENTS[cfg.activation_checkpointing]
    per_token = (rep + split / tp) * d
    recompute = 0 if cfg.activation_checkpointing == "none" else (4 + 13 / tp) * d
    tokens = b * T
    head_rows, head_bytes = (tokens, 10) if act == 2 else (min(tokens, FUSED_LOSS_ROWS), 8)
    lines = [
        ("parameters (fp32)", 4 * P / S, f"4 B x {P:,} / {S}"),
        ("gradients (fp32)", 4 * P / S, f"4 B x {P:,} / {S}"),
        ("AdamW moments (2 x fp32)", 8 * P / S, f"8 B x {P:,} / {S}"),
        ("FSDP gathered blocks", 2 * 4 * P_block / tp if fsdp else 0,
         f"2 x 4 B x {P_block:,} / {tp}" if fsdp else "not sharded"),
        (f"activations ({cfg.activation_checkpointing})", tokens * (L * per_token + recompute) * act,
         f"{b} x {T} tokens x ({L} x {per_token / d:g}d + {recompute / d:g}d) x {act} B, d={d}"),
        ("head and loss", head_rows * V * head_bytes, f"{head_rows:,} rows x {V:,} x {head_bytes} B"),
    ]
    headline = (f"{cfg.model_preset} ({P:,} parameters, {L} layers, d={d}), {world_size} "
                f"process(es): {'fsdp' if fsdp else 'ddp'} data-parallel {dp} x tensor-parallel {tp}, "
                f"micro-batch {b} x {T} tokens, {'fp32' if act == 4 else 'bf16/fp16'} activations, "
                f"activation checkpointing {cfg.activation_checkpointing}")
    return headline, lines


def format_plan(headline: str, lines: list[tuple[str, float, str]]) -> str:
    total = sum(n for _, n, _ in lines)
    rows = [f"{name:<28} {n / 2**30:>9.2f} GiB   {how}" for name, n, how in lines]
    return "\n".join([headline, *rows, f"{'total per process':<28} {total / 2**30:>9.2f} GiB"])
