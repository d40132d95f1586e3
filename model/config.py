"""The model's one typed config and its named presets."""

from dataclasses import dataclass, fields, replace

POS_EMBS = ("learned", "rope")
NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "swiglu", "relu2")


@dataclass
class GPTConfig:
    """Shape and architecture switches of a GPT; the defaults are GPT-2 (124M)."""

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    n_kv_head: int | None = None  # key/value heads (grouped-query attention); None: n_head
    head_size: int | None = None  # width of one head; None: n_embd // n_head (Qwen3 sets it)
    dropout: float = 0.0
    bias: bool = True  # biases in Linear layers and LayerNorms, as GPT-2
    # Modern switches; the GPT-2 values are the defaults.
    pos_emb: str = "learned"  # "learned" (GPT-2) | "rope" (rotary, no position table)
    norm: str = "layernorm"  # "layernorm" | "rmsnorm"
    qk_norm: bool = False  # RMSNorm of queries and keys per head, before rotary
    mlp: str = "gelu"  # "gelu" (tanh approximation, GPT-2) | "swiglu" | "relu2"
    tie_embeddings: bool = True  # lm_head shares the token embedding matrix
    mlp_hidden: int | None = None  # None: 4*n_embd, or ~8/3*n_embd rounded to 64 for swiglu
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    def __post_init__(self):
        for name, value, allowed in (("pos_emb", self.pos_emb, POS_EMBS),
                                     ("norm", self.norm, NORMS), ("mlp", self.mlp, MLPS)):
            if value not in allowed:
                raise ValueError(f"GPTConfig.{name}={value!r}: expected one of {allowed}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "n_kv_head",
                     "head_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be positive, got {getattr(self, name)}")
        if self.head_size is None and self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if self.n_head % self.kv_heads:
            raise ValueError(f"n_head={self.n_head} is not a multiple of n_kv_head={self.n_kv_head}")
        if self.pos_emb == "rope" and self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head size, got {self.head_dim}")

    @property
    def head_dim(self) -> int:
        return self.head_size if self.head_size is not None else self.n_embd // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head if self.n_kv_head is not None else self.n_head

    @property
    def hidden_dim(self) -> int:
        """Width of the MLP's inner layer (per branch for SwiGLU)."""
        if self.mlp_hidden is not None:
            return self.mlp_hidden
        if self.mlp == "swiglu":  # same parameter count as a 4x GELU MLP, rounded for matmul speed
            return -(-int(8 * self.n_embd / 3) // 64) * 64
        return 4 * self.n_embd


PRESETS: dict[str, GPTConfig] = {
    # Small models for a CPU (vocab_size is set from the tokenizer). tiny: the architecture of
    # Qwen3 (rotary positions, RMSNorm, QK-norm, SwiGLU, no biases, untied head; exportable),
    # trained with Muon by its trainer preset (bench/time_to_quality.py). gpt2-tiny: GPT-2's
    # architecture in the same shape.
    "tiny": GPTConfig(vocab_size=2048, block_size=256, n_layer=4, n_head=4, n_embd=128,
                      pos_emb="rope", norm="rmsnorm", qk_norm=True, mlp="swiglu", bias=False,
                      tie_embeddings=False),
    "gpt2-tiny": GPTConfig(vocab_size=2048, block_size=256, n_layer=4, n_head=4, n_embd=128),
    "gpt2-124m": GPTConfig(n_layer=12, n_head=12, n_embd=768),
    "gpt2-350m": GPTConfig(n_layer=24, n_head=16, n_embd=1024),
    "gpt2-774m": GPTConfig(n_layer=36, n_head=20, n_embd=1280),
    "gpt2-1.5b": GPTConfig(n_layer=48, n_head=25, n_embd=1600),
}


def preset(name: str, **overrides) -> GPTConfig:
    """A copy of a preset with some fields replaced, e.g. preset("tiny", vocab_size=4096)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    known = {f.name for f in fields(GPTConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown GPTConfig field(s) {unknown}; fields are {sorted(known)}")
    return replace(PRESETS[name], **overrides)
