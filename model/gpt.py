"""The GPT: GPT-2's architecture by default, modern switches in GPTConfig.

Parameter names follow GPT-2's checkpoint layout (transformer.wte, transformer.h.N.attn.c_attn,
..., lm_head) so weights map one to one onto Hugging Face's GPT2LMHeadModel.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import GPTConfig


# Rows of logits per chunk of the fused head + loss (GPT.loss): 1024 x 50304 fp32 logits are
# 206 MB; fewer rows made the CPU step slower, more only cost memory. allow_retain_graph is
# what torch.compile forces anyway (it warns otherwise).
FUSED_LOSS_ROWS = 1024
FUSED_LOSS = nn.LinearCrossEntropyOptions(chunking_method=None, batch_chunk_size=FUSED_LOSS_ROWS,
                                          allow_retain_graph=True)


def make_norm(config: GPTConfig, dim: int) -> nn.Module:
    if config.norm == "rmsnorm":
        return nn.RMSNorm(dim, eps=config.norm_eps)
    return nn.LayerNorm(dim, eps=config.norm_eps, bias=config.bias)


def rope_tables(config: GPTConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles, (block_size, head_dim/2), in the half-split layout
    Llama uses (rotate the first half of each head against the second)."""
    hd = config.head_dim
    inv_freq = 1.0 / config.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    angles = torch.outer(torch.arange(config.block_size, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).type_as(x)


def positions_and_mask(start: int, T: int, valid, device):
    """Positions of T new tokens following `start` cached ones, and their attention mask
    (None: plain causal). With valid (B, S) for left-padded rows, positions count real
    tokens only and pads are never attended to; a pad query sees only itself, so no softmax
    row is empty (that would give NaN)."""
    S = start + T
    q = torch.arange(start, S, device=device)[:, None]  # (T, 1)
    k = torch.arange(S, device=device)[None, :]  # (1, S)
    if valid is None:  # new tokens see all cached ones and each other causally
        return q[:, 0], (k <= q if start > 0 and T > 1 else None)
    pos = (valid[:, :S].cumsum(-1) - 1).clamp(min=0)[:, start:]  # (B, T)
    mask = (k <= q) & valid[:, None, :S] | (k == q)  # (B, T, S)
    return pos, mask[:, None]  # broadcast over heads


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to max_len."""

    def __init__(self, config: GPTConfig, batch: int, max_len: int, dtype, device):
        shape = (config.n_layer, batch, config.kv_heads, max_len, config.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.pos = 0  # number of positions filled; advanced by GPT.forward after all layers

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        end = self.pos + k.shape[2]
        self.k[layer, :, :, self.pos:end] = k
        self.v[layer, :, :, self.pos:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class CausalSelfAttention(nn.Module):
    """Multi-head causal attention; with n_kv_head < n_head, grouped-query attention (each
    key/value head serves n_head / n_kv_head query heads). c_attn holds [q; k; v]."""

    def __init__(self, config: GPTConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.kv_heads, config.head_dim
        q_dim, kv_dim = self.n_head * self.head_dim, self.n_kv_head * self.head_dim
        self.splits = (q_dim, kv_dim, kv_dim)
        self.c_attn = nn.Linear(config.n_embd, q_dim + 2 * kv_dim, bias=config.bias)
        self.c_proj = nn.Linear(q_dim, config.n_embd, bias=config.bias)
        self.c_proj.residual_scaled = True
        self.resid_dropout = nn.Dropout(config.dropout)
        self.dropout = config.dropout
        if config.qk_norm:
            self.q_norm = nn.RMSNorm(config.head_dim, eps=config.norm_eps)
            self.k_norm = nn.RMSNorm(config.head_dim, eps=config.norm_eps)
        self.qk_norm = config.qk_norm

    def forward(self, x, rope=None, mask=None, cache: KVCache | None = None):
        B, T, _ = x.shape
        q, k, v = (t.view(B, T, -1, self.head_dim).transpose(1, 2)
                   for t in self.c_attn(x).split(self.splits, dim=2))
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)
        # mask None means plain causal attention over the T new tokens (or none needed when T == 1)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None and T > 1,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=self.n_kv_head != self.n_head)
        y = y.transpose(1, 2).contiguous().view(B, T, -1)
        return self.resid_dropout(self.c_proj(y))


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU ("gelu_new"), 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), written through
    0.5(1 + tanh(z)) = sigmoid(2z): the same function, but sigmoid vectorises to an exp while
    tanh has no fast vector path on CPU (3x slower here, forward and backward)."""
    return x * torch.sigmoid(2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.kind = config.mlp
        hidden = config.hidden_dim
        # SwiGLU's gate and up projections live in one matrix, [gate; up], as c_attn holds q, k, v.
        self.c_fc = nn.Linear(config.n_embd, 2 * hidden if self.kind == "swiglu" else hidden,
                              bias=config.bias)
        self.c_proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.c_proj.residual_scaled = True
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        h = self.c_fc(x)
        if self.kind == "gelu":
            h = gelu_tanh(h)
        elif self.kind == "relu2":
            h = F.relu(h).square()
        else:
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        return self.dropout(self.c_proj(h))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer: int):
        super().__init__()
        self.ln_1 = make_norm(config, config.n_embd)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = make_norm(config, config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x, rope=None, mask=None, cache=None):
        x = x + self.attn(self.ln_1(x), rope, mask, cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        modules = dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(Block(config, i) for i in range(config.n_layer)),
            ln_f=make_norm(config, config.n_embd),
        )
        if config.pos_emb == "learned":
            modules["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        self.transformer = nn.ModuleDict(modules)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.transformer.wte.weight
        if config.pos_emb == "rope":
            cos, sin = rope_tables(config)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        """GPT-2 init: N(0, 0.02), zero biases, and projections into the residual stream
        scaled by 1/sqrt(2*n_layer) so the stream's variance does not grow with depth."""
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "residual_scaled", False):
                std /= math.sqrt(2 * self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count. non_embedding drops the lookup tables (position table, and the token
        table when the head is untied); a tied token table counts, as it is the output layer."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            if "wpe" in self.transformer:
                n -= self.transformer.wpe.weight.numel()
            if not self.config.tie_embeddings:
                n -= self.transformer.wte.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs (forward + backward) per token, PaLM appendix B: 6N for the weights
        plus 12*L*d*T for attention scores and values (full, not causal-halved, T x T; d the
        query width n_head * head_dim, which is n_embd unless head_size is set)."""
        c, T = self.config, seq_len or self.config.block_size
        return 6 * self.num_params(non_embedding=True) + 12 * c.n_layer * c.n_head * c.head_dim * T

    def features(self, idx, *, kv_cache: KVCache | None = None, valid=None) -> torch.Tensor:
        """idx (B, T) -> the final-norm hidden states (B, T, n_embd): everything but the head.

        Generation extras: kv_cache holds earlier positions' keys and values and is advanced by
        T; valid (B, S) marks real (True) and padding (False) tokens over everything the cache
        holds plus idx, for left-padded batches: pads are never attended to and positions count
        real tokens only.
        """
        T = idx.shape[1]
        start = kv_cache.pos if kv_cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size "
                             f"{self.config.block_size}")
        pos, mask = positions_and_mask(start, T, valid, idx.device)
        x = self.transformer.wte(idx)
        if "wpe" in self.transformer:
            x = x + self.transformer.wpe(pos)
        rope = None
        if self.config.pos_emb == "rope":
            cos, sin = self.rope_cos[pos], self.rope_sin[pos]
            rope = (cos.unsqueeze(-3), sin.unsqueeze(-3))  # broadcast over heads
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x, rope, mask, kv_cache)
        if kv_cache is not None:
            kv_cache.pos += T
        return self.transformer.ln_f(x)

    def forward(self, idx, targets=None, *, kv_cache: KVCache | None = None,
                valid=None) -> torch.Tensor:
        """idx (B, T) -> the logits (B, T, vocab) of every position; with targets (B, T), the
        scalar mean cross-entropy instead (targets of -1 ignored), by GPT.loss, which in fp32
        never builds the logits. The loss is computed inside forward so that DDP and FSDP,
        which hook forward, see it. For the last position's logits only (generation):
        `model.lm_head(model.features(idx)[:, -1:])`. kv_cache and valid: see features.
        """
        x = self.features(idx, kv_cache=kv_cache, valid=valid)
        return self.lm_head(x) if targets is None else self.loss(x, targets)

    def loss(self, x, targets) -> torch.Tensor:
        """Mean cross-entropy of lm_head(x) against targets, x being features(idx) (a wrapped
        model computes it through forward(idx, targets)). In fp32, by torch's fused linear +
        cross-entropy: it builds the logits FUSED_LOSS_ROWS rows at a time and, when training,
        their gradients in the same pass, so the (B, T, vocab) logits, their zero-filled
        gradient and the weight-gradient copy autograd would add are never made (the head
        is over a quarter of GPT-2 124M's FLOPs). Under autocast the fused op would return
        the loss in bf16/fp16 (2-3 digits), so there the logits go through an fp32
        cross-entropy."""
        if torch.is_autocast_enabled(x.device.type):
            logits = self.lm_head(x).flatten(0, 1).float()
            return F.cross_entropy(logits, targets.flatten(), ignore_index=-1)
        return F.linear_cross_entropy(x.flatten(0, 1), self.lm_head.weight, targets.flatten(),
                                      ignore_index=-1, options=FUSED_LOSS)
