"""The GPT model: config and presets, the nn.Module, generation, LoRA adapters and the Hugging
Face export and import."""

from .config import PRESETS, GPTConfig, preset
from .generate import generate, sample_next
from .gpt import GPT, KVCache

__all__ = ["GPT", "GPTConfig", "KVCache", "PRESETS", "export_hf", "generate", "import_hf",
           "preset", "sample_next"]


def export_hf(model, out_dir, tokenizer_path, eos_id):
    """Write a folder transformers loads with AutoModelForCausalLM and AutoTokenizer
    (imported lazily: transformers is an optional dependency)."""
    from .hf_export import export_hf as _export_hf

    return _export_hf(model, out_dir, tokenizer_path, eos_id)


def import_hf(hf_dir):
    """(GPT, details) from a transformers GPT-2, Llama or Qwen3 folder (model.hf_import)."""
    from .hf_import import import_hf as _import_hf

    return _import_hf(hf_dir)
