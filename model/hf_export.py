"""Export a GPT as a folder Hugging Face transformers loads offline.

Architectures: the GPT-2 switches map onto GPT2LMHeadModel; rotary + RMSNorm + SwiGLU maps
onto LlamaForCausalLM, and onto Qwen3ForCausalLM with QK-norm. Other combinations have no
transformers equivalent and raise. The weights go through a strict load_state_dict into the
transformers model, so a wrong mapping fails at export time, not when someone loads it.
The tokenizer is the sentencepiece BPE model converted to a `tokenizers` fast tokenizer, or
the run's own tokenizer.json (a run imported from Hugging Face) copied as it is.
"""

from pathlib import Path

import torch

from .config import GPTConfig
from .gpt import GPT


def hf_architecture(config: GPTConfig) -> str:
    """'gpt2', 'llama' or 'qwen3': the transformers architecture that computes what this
    config computes; a ValueError naming the switches when there is none."""
    c = config
    plain_heads = c.kv_heads == c.n_head and c.n_head * c.head_dim == c.n_embd
    if (c.pos_emb == "learned" and c.norm == "layernorm" and c.mlp == "gelu" and not c.qk_norm
            and plain_heads):
        return "gpt2"
    if c.pos_emb == "rope" and c.norm == "rmsnorm" and c.mlp == "swiglu":
        if not c.qk_norm:
            return "llama"
        if not c.bias:  # Qwen3's MLP has no biases
            return "qwen3"
    raise ValueError(
        f"no Hugging Face architecture matches pos_emb={c.pos_emb}, norm={c.norm}, "
        f"mlp={c.mlp}, qk_norm={c.qk_norm}, bias={c.bias}, n_kv_head={c.n_kv_head}, "
        f"head_size={c.head_size}. Exportable: GPT-2 (learned, layernorm, gelu, no qk_norm, "
        "n_head heads of n_embd/n_head for queries, keys and values) -> GPT2LMHeadModel; rope + rmsnorm + swiglu -> "
        "LlamaForCausalLM; the same with qk_norm and bias=False -> Qwen3ForCausalLM")


def hf_config(config: GPTConfig, eos_id: int):
    from transformers import GPT2Config, LlamaConfig, Qwen3Config

    c = config
    common = dict(vocab_size=c.vocab_size, bos_token_id=eos_id, eos_token_id=eos_id,
                  tie_word_embeddings=c.tie_embeddings)
    arch = hf_architecture(c)
    if arch == "gpt2":
        return GPT2Config(n_positions=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer,
                          n_head=c.n_head, n_inner=c.hidden_dim, activation_function="gelu_new",
                          resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                          layer_norm_epsilon=c.norm_eps, architectures=["GPT2LMHeadModel"],
                          **common)
    llama_like = dict(hidden_size=c.n_embd, intermediate_size=c.hidden_dim,
                      num_hidden_layers=c.n_layer, num_attention_heads=c.n_head,
                      num_key_value_heads=c.kv_heads, head_dim=c.head_dim, hidden_act="silu",
                      max_position_embeddings=c.block_size, rms_norm_eps=c.norm_eps,
                      rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta},
                      attention_bias=c.bias, attention_dropout=0.0, **common)
    if arch == "llama":
        return LlamaConfig(mlp_bias=c.bias, architectures=["LlamaForCausalLM"], **llama_like)
    return Qwen3Config(architectures=["Qwen3ForCausalLM"], **llama_like)


def gpt2_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under GPT2LMHeadModel's names (ours already follow GPT-2's layout). HF GPT-2
    uses Conv1D, whose weight is stored (in, out): every Linear inside a block is transposed."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            tensor = tensor.t()
        out[name] = tensor.detach().contiguous()
    if model.config.tie_embeddings:
        del out["lm_head.weight"]  # the head is wte; tie_word_embeddings says so
    return out


def llama_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under LlamaForCausalLM's (and Qwen3's) names: c_attn splits into q, k, v;
    the SwiGLU c_fc into gate and up. nn.Linear layouts match, so nothing is transposed."""
    H = model.config.hidden_dim
    out = {"model.embed_tokens.weight": model.transformer.wte.weight,
           "model.norm.weight": model.transformer.ln_f.weight}
    if not model.config.tie_embeddings:
        out["lm_head.weight"] = model.lm_head.weight
    for i, block in enumerate(model.transformer.h):
        p = f"model.layers.{i}."
        out[p + "input_layernorm.weight"] = block.ln_1.weight
        out[p + "post_attention_layernorm.weight"] = block.ln_2.weight
        for kind in ("weight", "bias"):
            qkv = getattr(block.attn.c_attn, kind)
            if qkv is None:
                continue
            for name, part in zip(("q_proj", "k_proj", "v_proj"),
                                  qkv.split(block.attn.splits, dim=0)):
                out[p + f"self_attn.{name}.{kind}"] = part
            out[p + f"self_attn.o_proj.{kind}"] = getattr(block.attn.c_proj, kind)
            gate, up = getattr(block.mlp.c_fc, kind).split(H, dim=0)
            out[p + f"mlp.gate_proj.{kind}"], out[p + f"mlp.up_proj.{kind}"] = gate, up
            out[p + f"mlp.down_proj.{kind}"] = getattr(block.mlp.c_proj, kind)
        if model.config.qk_norm:
            out[p + "self_attn.q_norm.weight"] = block.attn.q_norm.weight
            out[p + "self_attn.k_norm.weight"] = block.attn.k_norm.weight
    return {k: v.detach().contiguous() for k, v in out.items()}


# Spaces, runs of spaces, newlines, bytes outside the vocabulary: where a conversion would differ.
_PROBE = " Leading space,  two spaces,\tTab\nnew line\r\n\n12345 é€😀 \x00 trailing "


def export_tokenizer(tokenizer_model_path, out_dir, eos_id: int):
    """tokenizer.json (+ tokenizer_config.json) for AutoTokenizer, converted from the
    sentencepiece BPE model: the same vocabulary, merges ranked by piece id (sentencepiece
    merges the pair whose result ranks first), spaces as U+2581, byte fallback, no
    normalization or dummy prefix. Checked against sentencepiece on a probe string."""
    import sentencepiece as spm
    from tokenizers import Tokenizer, decoders, normalizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast
    from transformers.tokenization_utils_base import generate_merges

    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_model_path))
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    special = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    skip = [sp.id_to_piece(i) for i in range(n) if i in special or sp.is_byte(i)]
    bpe = BPE(vocab, generate_merges(vocab, skip_tokens=skip), unk_token=sp.id_to_piece(sp.unk_id()),
              fuse_unk=True, byte_fallback=True)
    tok = Tokenizer(bpe)
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                     decoders.Fuse()])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=sp.id_to_piece(eos_id),
        unk_token=sp.id_to_piece(sp.unk_id()), model_max_length=int(1e30),
        additional_special_tokens=[sp.id_to_piece(i) for i in special
                                   if i not in (eos_id, sp.unk_id())])
    if fast.encode(_PROBE) != sp.encode(_PROBE):
        raise ValueError(f"{tokenizer_model_path}: the converted tokenizer disagrees with "
                         "sentencepiece; expected a BPE model with byte fallback, identity "
                         "normalization and no dummy prefix (as cc2gpt trains)")
    fast.save_pretrained(out_dir)
    return fast


def copy_tokenizer_json(tokenizer_json, out_dir, eos_id: int):
    """A Hugging Face tokenizer.json (an imported run's) for AutoTokenizer: the file itself,
    byte for byte, plus the tokenizer_config.json naming its EOS."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_file(str(tokenizer_json))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=tok.id_to_token(eos_id),
                                   model_max_length=int(1e30))
    fast.save_pretrained(out_dir)
    (Path(out_dir) / "tokenizer.json").write_bytes(Path(tokenizer_json).read_bytes())
    return fast


def tokenizer_size(tokenizer_path) -> tuple[int, bool]:
    """(number of ids, whether it is a tokenizer.json) of a tokenizer file of either kind."""
    if Path(tokenizer_path).read_bytes().lstrip()[:1] == b"{":
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(tokenizer_path)).get_vocab_size(with_added_tokens=True), True
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(tokenizer_path)).get_piece_size(), False


def export_hf(model: GPT, out_dir, tokenizer_path, eos_id: int) -> Path:
    """Write config.json, model.safetensors and the tokenizer (from a cc2gpt sentencepiece
    model or a tokenizer.json) into out_dir; returns it."""
    from transformers import AutoModelForCausalLM

    out_dir = Path(out_dir)
    arch = hf_architecture(model.config)
    n_pieces, is_json = tokenizer_size(tokenizer_path)
    if n_pieces > model.config.vocab_size or not 0 <= eos_id < n_pieces:
        raise ValueError(f"{tokenizer_path} has {n_pieces} pieces (eos_id {eos_id}) but "
                         f"the model's vocab_size is {model.config.vocab_size}: wrong tokenizer")
    hf_cfg = hf_config(model.config, eos_id)
    sd = gpt2_state_dict(model) if arch == "gpt2" else llama_state_dict(model)
    sd = {k: v.cpu() for k, v in sd.items()}  # the export is written from the CPU
    dtype = next(model.parameters()).dtype
    with torch.device("meta"):  # no memory or time spent on weights about to be replaced
        hf_model = AutoModelForCausalLM.from_config(hf_cfg, dtype=dtype)
    if not model.config.bias:  # HF GPT-2 always has biases: zeros compute the same
        sd |= {k: torch.zeros(v.shape, dtype=dtype) for k, v in hf_model.state_dict().items()
               if k.endswith(".bias") and k not in sd}
    missing, unexpected = hf_model.load_state_dict(sd, strict=False, assign=True)
    missing = [k for k in missing if not (k == "lm_head.weight" and model.config.tie_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"export mapping is wrong: missing {missing}, unexpected {unexpected}")
    hf_model.tie_weights()
    hf_model.generation_config.eos_token_id = eos_id
    hf_model.generation_config.pad_token_id = eos_id
    out_dir.mkdir(parents=True, exist_ok=True)
    hf_model.save_pretrained(out_dir)
    if is_json:
        copy_tokenizer_json(tokenizer_path, out_dir, eos_id)
    else:
        export_tokenizer(tokenizer_path, out_dir, eos_id)
    return out_dir
