"""Import a Hugging Face transformers folder as a GPT: the inverse of hf_export.

GPT2LMHeadModel maps onto the GPT-2 switches; LlamaForCausalLM onto rotary + RMSNorm + SwiGLU
(grouped-query attention through n_kv_head); Qwen3ForCausalLM onto the same with QK-norm and
no biases (head_size when its heads are not n_embd / n_head wide). The folder's config.json
is read as JSON (no transformers needed), the weights from safetensors or pytorch_model.bin
files (sharded or not). Every tensor is checked against the names and shapes the export of
the same config would write, so weights that do not fit fail naming the tensor.
"""

import json
from pathlib import Path

import torch

from .config import GPTConfig
from .gpt import GPT
from .hf_export import gpt2_state_dict, llama_state_dict

ARCHITECTURES = {"GPT2LMHeadModel": "gpt2", "LlamaForCausalLM": "llama",
                 "Qwen3ForCausalLM": "qwen3"}
# Buffers some checkpoints carry that are not weights (recomputed by every implementation).
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")


def read_config(hf_dir: Path) -> tuple[str, dict]:
    path = hf_dir / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: missing (not a transformers model folder)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from e
    archs = [ARCHITECTURES[a] for a in cfg.get("architectures") or [] if a in ARCHITECTURES]
    if not archs:
        raise ValueError(f"{path}: architectures {cfg.get('architectures')} has none of "
                           f"{sorted(ARCHITECTURES)}")
    return archs[0], cfg


def _require(path, cfg: dict, key: str, allowed, default):
    value = cfg.get(key, default)
    if value not in allowed:
        raise ValueError(f"{path}: {key}={value!r} is not supported (supported: {allowed})")
    return value


def gpt_config(arch: str, cfg: dict, path="config.json") -> GPTConfig:
    """Our GPTConfig for a transformers config dict; unsupported options raise naming them."""
    if arch == "gpt2":
        _require(path, cfg, "activation_function", ("gelu_new", "gelu_pytorch_tanh"), "gelu_new")
        for key, default in (("scale_attn_by_inverse_layer_idx", False),
                             ("add_cross_attention", False)):
            _require(path, cfg, key, (False,), default)
        _require(path, cfg, "scale_attn_weights", (True,), True)
        return GPTConfig(vocab_size=cfg["vocab_size"], block_size=cfg["n_positions"],
                         n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"],
                         mlp_hidden=cfg.get("n_inner"), norm_eps=cfg.get("layer_norm_epsilon", 1e-5),
                         tie_embeddings=cfg.get("tie_word_embeddings", True))
    _require(path, cfg, "hidden_act", ("silu",), "silu")
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    _require(path, rope, "rope_type", ("default",), rope.get("type", "default"))
    if cfg.get("use_sliding_window") or any(t != "full_attention" for t in cfg.get("layer_types") or []):
        raise ValueError(f"{path}: sliding-window attention is not supported")
    bias = cfg.get("attention_bias", False)
    if bias != cfg.get("mlp_bias", False):  # Qwen3's MLP never has biases
        raise ValueError(f"{path}: attention_bias={bias} with mlp_bias={cfg.get('mlp_bias')} "
                         "is not supported (one bias switch covers both)")
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    head = cfg.get("head_dim") or (128 if arch == "qwen3" else C // H)
    kv = cfg.get("num_key_value_heads") or H
    return GPTConfig(
        vocab_size=cfg["vocab_size"], block_size=cfg["max_position_embeddings"],
        n_layer=cfg["num_hidden_layers"], n_head=H, n_embd=C, n_kv_head=None if kv == H else kv,
        head_size=None if head * H == C else head, bias=bias, pos_emb="rope", norm="rmsnorm",
        qk_norm=arch == "qwen3", mlp="swiglu", mlp_hidden=cfg["intermediate_size"],
        rope_theta=rope.get("rope_theta", cfg.get("rope_theta", 10000.0)),
        norm_eps=cfg.get("rms_norm_eps", 1e-6), tie_embeddings=cfg.get("tie_word_embeddings", False))


def read_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the folder's *.safetensors files, else of its pytorch_model*.bin."""
    files = sorted(hf_dir.glob("*.safetensors"))
    if files:
        from safetensors.torch import load_file

        loader = load_file
    else:
        files = sorted(hf_dir.glob("pytorch_model*.bin"))
        loader = lambda f: torch.load(f, map_location="cpu", weights_only=True)  # noqa: E731
    if not files:
        raise ValueError(f"{hf_dir}: no *.safetensors or pytorch_model*.bin weights")
    out = {}
    for f in files:
        try:
            out |= loader(f)
        except Exception as e:  # noqa: BLE001 -- any unreadable file is named
            raise ValueError(f"{f}: unreadable weights: {e}") from e
    return out


def _with_prefix(name: str, arch: str) -> str:
    """Checkpoints saved from the base model (GPT2Model, LlamaModel) lack the prefix."""
    prefix = "transformer." if arch == "gpt2" else "model."
    return name if name.startswith((prefix, "lm_head.")) else prefix + name


def check_weights(hf: dict, expected: dict, arch: str, where) -> None:
    """Names and shapes of `hf` against the export's `expected` ({name: tensor})."""
    missing = sorted(set(expected) - set(hf))
    if missing:
        raise ValueError(f"{where}: missing tensor(s) {missing[:5]} of {arch} as config.json "
                           "describes it")
    unexpected = sorted(set(hf) - set(expected))
    if unexpected:
        raise ValueError(f"{where}: unexpected tensor(s) {unexpected[:5]}: not part of {arch} "
                           "as config.json describes it")
    for name, ref in expected.items():
        if tuple(hf[name].shape) != tuple(ref.shape):
            raise ValueError(f"{where}: tensor {name} has shape {tuple(hf[name].shape)}, "
                               f"expected {tuple(ref.shape)} from config.json")
        if not hf[name].is_floating_point():
            raise ValueError(f"{where}: tensor {name} has dtype {hf[name].dtype}, not a float")


def our_state_dict(hf: dict, model: GPT, arch: str) -> dict[str, torch.Tensor]:
    """The inverse of hf_export's mapping: HF names -> ours (fp32)."""
    c = model.config
    if arch == "gpt2":
        out = {}
        for name in model.state_dict():
            t = hf.get(name, hf.get("transformer.wte.weight") if name == "lm_head.weight" else None)
            out[name] = t.t() if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")) else t
        return {k: v.float().contiguous() for k, v in out.items()}
    out = {"transformer.wte.weight": hf["model.embed_tokens.weight"],
           "transformer.ln_f.weight": hf["model.norm.weight"],
           "lm_head.weight": hf["model.embed_tokens.weight" if c.tie_embeddings else "lm_head.weight"]}
    for i in range(c.n_layer):
        p, q = f"model.layers.{i}.", f"transformer.h.{i}."
        out[q + "ln_1.weight"] = hf[p + "input_layernorm.weight"]
        out[q + "ln_2.weight"] = hf[p + "post_attention_layernorm.weight"]
        for kind in ("weight", "bias") if c.bias else ("weight",):
            out[q + f"attn.c_attn.{kind}"] = torch.cat(
                [hf[p + f"self_attn.{n}_proj.{kind}"] for n in ("q", "k", "v")])
            out[q + f"attn.c_proj.{kind}"] = hf[p + f"self_attn.o_proj.{kind}"]
            out[q + f"mlp.c_fc.{kind}"] = torch.cat(
                [hf[p + f"mlp.{n}_proj.{kind}"] for n in ("gate", "up")])
            out[q + f"mlp.c_proj.{kind}"] = hf[p + f"mlp.down_proj.{kind}"]
        if c.qk_norm:
            out[q + "attn.q_norm.weight"] = hf[p + "self_attn.q_norm.weight"]
            out[q + "attn.k_norm.weight"] = hf[p + "self_attn.k_norm.weight"]
    return {k: v.float().contiguous() for k, v in out.items()}


def import_hf(hf_dir) -> tuple[GPT, dict]:
    """(GPT in eval mode, fp32, on CPU; {"architecture", "eos_token_id", "config"}) from a
    transformers folder of GPT2LMHeadModel, LlamaForCausalLM or Qwen3ForCausalLM."""
    hf_dir = Path(hf_dir)
    arch, cfg = read_config(hf_dir)
    config = gpt_config(arch, cfg, hf_dir / "config.json")
    with torch.device("meta"):  # only the names and shapes the export would write
        expected = (gpt2_state_dict if arch == "gpt2" else llama_state_dict)(GPT(config))
    hf = {_with_prefix(k, arch): v for k, v in read_weights(hf_dir).items()
          if not k.endswith(IGNORED_SUFFIXES)}
    if config.tie_embeddings and hf.get("lm_head.weight") is not None:
        hf.pop("lm_head.weight")  # a tied head saved anyway: the embedding is the head
    check_weights(hf, expected, arch, hf_dir)
    model = GPT(config)
    model.load_state_dict(our_state_dict(hf, model, arch))
    return model.eval(), {"architecture": arch, "eos_token_id": cfg.get("eos_token_id"),
                          "config": cfg}
