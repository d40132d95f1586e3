"""`cc2gpt generate` and `cc2gpt export-hf` on a trained run folder, through the `cc2gpt`
command."""

import pytest
import torch

import cc2gpt
from train.cli import main as train_main
from train.run import load_run

from .conftest import SMALL


@pytest.fixture(scope="module")
def run(out_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("gen") / "run"
    # vocab_multiple=96 pads the 512 ids to 576: generation and export must cut the padding
    assert train_main(["--data", str(out_dir), "--preset", "tiny", "--out", str(run), "--max-steps", "10",
                       "--set", *SMALL, "vocab_multiple=96", "eval_interval=0"]) == 0
    return run


def generate(capsys, run, *args) -> str:
    assert cc2gpt.main(["generate", "--checkpoint", str(run), "--prompt", "KING HENRY:\n",
                        "--max-new-tokens", "40", *args]) == 0
    return capsys.readouterr().out


def test_generate_repeats_with_a_seed(run, capsys):
    a = generate(capsys, run, "--seed", "7", "--top-k", "50")
    b = generate(capsys, run, "--seed", "7", "--top-k", "50")
    c = generate(capsys, run, "--seed", "8", "--top-k", "50")
    assert a == b and a != c
    assert a.startswith("KING HENRY:\n") and len(a) > len("KING HENRY:\n") + 20


def test_greedy_is_deterministic_whatever_the_seed(run, capsys):
    a = generate(capsys, run, "--temperature", "0", "--seed", "1")
    b = generate(capsys, run, "--temperature", "0", "--seed", "2")
    assert a == b
    model, tok, _ = load_run(run)
    prompt = tok.encode("KING HENRY:\n")
    ids = torch.tensor([prompt])
    for _ in range(5):  # greedy by hand: argmax of the last position, over the real vocabulary
        logits = model(ids)
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert a.startswith("KING HENRY:\n" + tok.decode(ids[0, len(prompt):].tolist()))


def test_padding_is_cut_from_the_loaded_model(run):
    model, tok, meta = load_run(run)
    assert meta["padded_vocab_size"] == 576
    assert model.config.vocab_size == tok.vocab_size == 512
    assert model.lm_head.weight.shape[0] == 512


def test_export_hf_round_trip(run, tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    assert cc2gpt.main(["export-hf", str(run), str(tmp_path / "hf")]) == 0
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    model, tok, _ = load_run(run)
    text = "Now is the winter of our discontent"
    ids = tok.encode(text)
    assert hf_tok(text)["input_ids"] == ids
    x = torch.tensor([ids])
    with torch.no_grad():
        ours = model(x)
        theirs = hf(x).logits
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)
