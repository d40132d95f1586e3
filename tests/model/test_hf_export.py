"""The Hugging Face export, checked against transformers itself (the reference
implementation of GPT-2, Llama and Qwen3) and against sentencepiece."""

import json
import os
from pathlib import Path

import pytest
import torch

from cc2gpt.model import GPT, export_hf, generate, preset
from cc2gpt.model.hf_export import hf_architecture
from cc2gpt.tokenizer import EOS_ID, Tokenizer, train_tokenizer

os.environ["HF_HUB_OFFLINE"] = "1"  # everything loads from the export folder
transformers = pytest.importorskip("transformers")

CORPUS = Path(__file__).resolve().parents[2] / "../shared/data/lm_corpus"
VOCAB = 1024


def paragraphs(path: Path, n: int = 2, lines: int = 12) -> list[str]:
    """n runs of lines from the middle of a file, raw: CRLF and blank lines kept."""
    text = path.read_bytes().decode("utf-8", errors="replace").splitlines(keepends=True)
    mid = len(text) // 2
    return ["".join(text[mid + i * lines: mid + (i + 1) * lines]) for i in range(n)]


@pytest.fixture(scope="module")
def spm_path(tmp_path_factory):
    texts = [(CORPUS / "tinyshakespeare/input.txt").read_text()[:150_000],
             (CORPUS / "state_union/1945-Truman.txt").read_text(errors="replace")]
    path = tmp_path_factory.mktemp("tok") / "tokenizer.model"
    path.write_bytes(train_tokenizer(texts, VOCAB))
    return path


def gpt2_model(**overrides) -> GPT:
    torch.manual_seed(0)
    kw = dict(vocab_size=VOCAB, block_size=64, n_layer=2, n_head=4, n_embd=64) | overrides
    return GPT(preset("gpt2-tiny", **kw)).eval()


def export_and_load(model, spm_path, out_dir):
    export_hf(model, out_dir, spm_path, EOS_ID)
    hf = transformers.AutoModelForCausalLM.from_pretrained(out_dir).eval()
    return hf


@pytest.mark.parametrize("kw, arch", [
    ({}, "GPT2LMHeadModel"),
    (dict(bias=False, tie_embeddings=False), "GPT2LMHeadModel"),
    (dict(pos_emb="rope", norm="rmsnorm", mlp="swiglu", tie_embeddings=False), "LlamaForCausalLM"),
    (dict(pos_emb="rope", norm="rmsnorm", mlp="swiglu", qk_norm=True, bias=False),
     "Qwen3ForCausalLM"),
])
def test_transformers_computes_the_same_logits(kw, arch, spm_path, tmp_path, make_gpt):
    # GPT-2's own init (realistic logit scale) and large random weights (every path matters)
    for model in (gpt2_model(**kw),
                  make_gpt(dtype=torch.float32, vocab_size=VOCAB, n_embd=64, n_head=4, **kw)):
        hf = export_and_load(model, spm_path, tmp_path)
        assert type(hf).__name__ == arch
        assert hf.config.tie_word_embeddings == model.config.tie_embeddings
        idx = torch.randint(0, VOCAB, (3, 64))
        with torch.no_grad():
            ours = model(idx)
            theirs = hf(idx).logits
        assert (ours - theirs).abs().max().item() < 1e-4 * max(1.0, ours.abs().max().item())
    # both decode the same greedy continuation
    prompt = [[5, 99, 314, 7, 42]]
    out = hf.generate(torch.tensor(prompt), max_new_tokens=20, do_sample=False,
                      attention_mask=torch.ones(1, 5, dtype=torch.long))
    assert out[0, 5:].tolist() == generate(model, prompt, 20, temperature=0)[0]


def test_export_folder_loads_offline_with_auto_classes(spm_path, tmp_path):
    model = gpt2_model()
    export_hf(model, tmp_path, spm_path, EOS_ID)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["activation_function"] == "gelu_new"
    assert config["eos_token_id"] == EOS_ID and config["vocab_size"] == VOCAB
    assert (tmp_path / "model.safetensors").exists()
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert tok.eos_token == "<|endoftext|>" and tok.eos_token_id == EOS_ID
    assert tok.unk_token_id == 0 and len(tok) == VOCAB
    ours = Tokenizer.from_file(spm_path)
    texts = [p for f in ("gutenberg/austen-emma.txt", "gitenberg/pg16215_jack-sheppard.txt",
                         "state_union/1975-Ford.txt", "gutenberg/milton-paradise.txt")
             for p in paragraphs(CORPUS / f)]
    assert len(texts) == 8
    texts += ["  indented, ünïcödé ☃ and emoji 😀\r\n\ttab\n", "x" * 300 + " 3.14159"]
    for text in texts:
        ids = tok.encode(text)
        assert ids == ours.encode(text)  # same ids as sentencepiece, no BOS, no dummy prefix
        assert tok.decode(ids) == text
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert hf.generation_config.eos_token_id == EOS_ID


@pytest.mark.parametrize("kw", [
    dict(pos_emb="rope"), dict(norm="rmsnorm"), dict(mlp="relu2"), dict(qk_norm=True),
    dict(pos_emb="rope", norm="rmsnorm", mlp="swiglu", qk_norm=True, bias=True),
])
def test_switches_without_a_transformers_equivalent_are_a_clear_error(kw):
    with pytest.raises(ValueError, match="no Hugging Face architecture matches"):
        hf_architecture(preset("gpt2-tiny", **kw))


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(spm_path, tmp_path):
    with pytest.raises(ValueError, match="wrong tokenizer"):
        export_hf(gpt2_model(vocab_size=VOCAB // 2), tmp_path, spm_path, EOS_ID)
    assert not any(tmp_path.iterdir())  # nothing half-written
