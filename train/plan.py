"""`cc2gpt train --plan`: the memory one process needs, worked out from the config alone
(nothing is built or trained), so a recipe can be checked before it is launched.

Per process, in bytes, for P parameters (embeddings included, a tied head once), L layers
of width d, micro-batch b windows of T tokens, vocabulary V; FSDP shards every weight over
the dp data-parallel ranks (DDP: none), tensor parallelism splits the blocks' four
projections (P_tp of the parameters) and the activations inside a block over tp:

* per rank P_tp / (dp x tp) + (P - P_tp) / dp parameters (P_tp / tp + P - P_tp under DDP):
  4 bytes each for the fp32 weights (autocast computes in bf16/fp16 from them), 4 for
  their gradients, 8 for AdamW's two moments;
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

from .config import TrainConfig, data_parallel_size

ACT_ELEMENTS = {"none": (4, 13), "selective": (1, 10), "full": (1, 0)}  # (replicated, split by tp) x d


def plan(cfg: TrainConfig, world_size: int, vocab_size: int) -> tuple[str, list[tuple[str, float, str]]]:
    """(headline, [(line, bytes per process, how)]) of cfg on world_size processes."""
    c = cfg.model_config(vocab_size)
    with torch.device("meta"):
        model = GPT(c)
    P = model.num_params(non_embedding=False)
    block = model.transformer.h[0]
    P_block = sum(p.numel() for p in block.parameters())
    # split by tensor parallelism: the four projections (a row-split layer's bias is whole)
    P_split = c.n_layer * sum(
        lin.weight.numel() + (lin.bias.numel() if lin.bias is not None and col else 0)
        for lin, col in ((block.attn.c_attn, True), (block.attn.c_proj, False),
                         (block.mlp.c_fc, True), (block.mlp.c_proj, False)))
    tp, dp = cfg.tp, data_parallel_size(cfg, world_size)
    fsdp = cfg.parallel == "fsdp" and world_size > 1
    S = dp if fsdp else 1  # the data-parallel sharding of every weight
    per_rank = P_split / (S * tp) + (P - P_split) / S
    shards = f"({P_split:,} / {S * tp} + {P - P_split:,} / {S})"
    b, T, d, L, V = cfg.micro_batch_size, c.block_size, c.n_embd, c.n_layer, c.vocab_size
    act = 4 if cfg.dtype == "fp32" else 2  # "auto" plans for GPUs: bf16
    rep, split = ACT_ELEMENTS[cfg.activation_checkpointing]
    per_token = (rep + split / tp) * d
    recompute = 0 if cfg.activation_checkpointing == "none" else (4 + 13 / tp) * d
    tokens = b * T
    head_rows, head_bytes = (tokens, 10) if act == 2 else (min(tokens, FUSED_LOSS_ROWS), 8)
    lines = [
        ("parameters (fp32)", 4 * per_rank, f"4 B x {shards}"),
        ("gradients (fp32)", 4 * per_rank, f"4 B x {shards}"),
        ("AdamW moments (2 x fp32)", 8 * per_rank, f"8 B x {shards}"),
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
