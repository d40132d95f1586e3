"""The GPT model: config and presets, the nn.Module, generation and the Hugging Face export."""

from .config import PRESETS, GPTConfig, preset
from .generate import generate, sample_next
from .gpt import GPT, KVCache

__all__ = ["GPT", "GPTConfig", "KVCache", "PRESETS", "export_hf", "generate", "preset",
           "sample_next"]


def export_hf(model, out_dir, tokenizer_model_path, eos_id):
    """Write a folder transformers loads with AutoModelForCausalLM and AutoTokenizer
    (imported lazily: transformers is an optional dependency)."""
    from .hf_export import export_hf as _export_hf

    return _export_hf(model, out_dir, tokenizer_model_path, eos_id)
