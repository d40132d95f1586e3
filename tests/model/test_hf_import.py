"""`cc2gpt import-hf`: tiny GPT2LMHeadModel, LlamaForCausalLM and Qwen3ForCausalLM with random
weights, saved by transformers, imported, compared with transformers itself, exported back,
and trained further on shards in their tokenizer's vocabulary."""

import json
import os
from pathlib import Path

import pytest
import torch

from cc2gpt.model import generate, import_hf
from cc2gpt.tokenizer.out import write_out
from cc2gpt.train.cli import main as train_main
from cc2gpt.train.run import export_main
from cc2gpt.train.import_cli import main as import_main
from cc2gpt.train.run import load_run

os.environ["HF_HUB_OFFLINE"] = "1"
transformers = pytest.importorskip("transformers")
safetensors = pytest.importorskip("safetensors.torch")

SHAKESPEARE = Path(__file__).resolve().parents[2] / "../shared/data/lm_corpus/tinyshakespeare/input.txt"
SHAPE = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             max_position_embeddings=64, bos_token_id=None, eos_token_id=None)
CONFIGS = {
    "GPT2LMHeadModel": lambda: transformers.GPT2Config(
        n_positions=64, n_embd=64, n_layer=2, n_head=4, bos_token_id=None, eos_token_id=None),
    "LlamaForCausalLM": lambda: transformers.LlamaConfig(  # grouped-query attention, untied
        num_key_value_heads=2, tie_word_embeddings=False, rope_theta=500000.0, **SHAPE),
    "Qwen3ForCausalLM": lambda: transformers.Qwen3Config(  # heads 32 wide on a 64-wide stream
        num_key_value_heads=2, head_dim=32, tie_word_embeddings=True, **SHAPE),
}


def hf_folder(arch, folder, tokenizer_json):
    """A transformers model of `arch` with large random weights (so every path shows in the
    logits), saved with its tokenizer (GPT-2's: 50257 ids)."""
    torch.manual_seed(0)
    config = CONFIGS[arch]()
    config.vocab_size = 50257
    model = getattr(transformers, arch)(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.1)
            else:  # norm gains near 1, biases near 0
                p.normal_(1.0 if "norm" in name or "ln_" in name and name.endswith("weight") else 0.0, 0.1)
    model.save_pretrained(folder)
    (folder / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())
    return model


@pytest.mark.parametrize("arch", list(CONFIGS))
def test_round_trip_matches_transformers(arch, gpt2_tokenizer_json, tmp_path):
    hf = hf_folder(arch, tmp_path / "hf", gpt2_tokenizer_json)
    assert import_main([str(tmp_path / "hf"), str(tmp_path / "run")]) == 0
    model, tok, meta = load_run(tmp_path / "run")
    assert tok.vocab_size == model.config.vocab_size == 50257 and meta["padded_vocab_size"] == 50304
    idx = torch.randint(0, 50257, (2, 64))
    with torch.no_grad():
        ours, theirs = model(idx), hf(idx).logits
    assert ours.abs().max() > 1  # logits of a meaningful scale
    assert (ours - theirs).abs().max().item() < 1e-4
    prompt = tok.encode("The quick brown fox")
    out = hf.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False,
                      attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    assert out[0, len(prompt):].tolist() == generate(model, [prompt], 20, temperature=0)[0]
    # export-hf of the import writes back the very tensors transformers saved
    assert export_main([str(tmp_path / "run"), str(tmp_path / "back")]) == 0
    before = safetensors.load_file(tmp_path / "hf/model.safetensors")
    after = safetensors.load_file(tmp_path / "back/model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (tmp_path / "back/tokenizer.json").read_bytes() == gpt2_tokenizer_json.read_bytes()


def test_pytorch_model_bin_and_continued_pretraining(gpt2_tokenizer_json, tmp_path):
    """A pytorch_model.bin folder whose names lack the "transformer." prefix (as OpenAI's
    GPT-2 on the Hub) imports; `train --resume` continues it on shards written in its
    tokenizer's vocabulary."""
    hf = hf_folder("GPT2LMHeadModel", tmp_path / "hf", gpt2_tokenizer_json)
    (tmp_path / "hf/model.safetensors").unlink()
    torch.save({k.removeprefix("transformer."): v for k, v in hf.state_dict().items()
                if k != "lm_head.weight"}, tmp_path / "hf/pytorch_model.bin")
    assert import_main([str(tmp_path / "hf"), str(tmp_path / "run")]) == 0
    idx = torch.randint(0, 50257, (1, 32))
    with torch.no_grad():
        torch.testing.assert_close(load_run(tmp_path / "run")[0](idx), hf(idx).logits, atol=1e-4, rtol=0)
    text = SHAKESPEARE.read_text()[:60_000]
    docs = [(f"d{i}", chunk) for i, chunk in enumerate(text.split("\n\n"))]
    write_out(tmp_path / "out", gpt2_tokenizer_json.read_bytes(), docs, 0.1)
    assert train_main(["--data", str(tmp_path / "out"), "--out", str(tmp_path / "run"), "--resume",
                       "--max-steps", "3", "--set", "tokens_per_step=256", "micro_batch_size=4",
                       "dtype=fp32", "eval_interval=0", "log_interval=1", "tensorboard=false",
                       "warmup_steps=0", "lr=0.0001"]) == 0
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert load_run(tmp_path / "run")[2]["step"] == 3


def test_weights_that_do_not_fit_name_the_tensor(gpt2_tokenizer_json, tmp_path):
    hf_folder("LlamaForCausalLM", tmp_path, gpt2_tokenizer_json)
    weights = safetensors.load_file(tmp_path / "model.safetensors")
    bad = dict(weights)
    bad["model.layers.1.self_attn.k_proj.weight"] = torch.zeros(64, 64)
    safetensors.save_file(bad, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"model\.layers\.1\.self_attn\.k_proj\.weight has shape "
                                         r"\(64, 64\), expected \(32, 64\)"):
        import_hf(tmp_path)
    del bad["model.layers.1.self_attn.k_proj.weight"]
    safetensors.save_file(bad, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"missing tensor\(s\) \['model\.layers\.1\.self_attn\.k_proj"):
        import_hf(tmp_path)
    safetensors.save_file({**weights, "model.layers.9.mlp.up_proj.weight": torch.zeros(2, 2)},
                          tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"unexpected tensor\(s\) \['model\.layers\.9\.mlp\.up_proj"):
        import_hf(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "llama3", "rope_theta": 500000.0}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="rope_type='llama3' is not supported"):
        import_hf(tmp_path)
