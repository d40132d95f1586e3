"""Scoring outside a training run (train/score.py): minimal-pair accuracy against log-probs
computed by hand, and the text files `--text` and `--eval` read."""

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from cc2gpt.model import GPT, preset
from cc2gpt.tokenizer import Tokenizer
from cc2gpt.tokenizer.manifest import read_manifest, tokenizer_path
from cc2gpt.train.score import pair_accuracy, read_texts, sentence_logprobs

PAIRS = [("The cat sleeps.", "The cat sleep."), ("She has gone home.", "She have gone home."),
         ("Who did you see?", "Who you did see?"), ("Two dogs bark loudly.", "Two dog barks loudly."),
         ("It was raining.", "It were raining.")]


@pytest.fixture(scope="module")
def model_and_tokenizer(out_dir):
    tok = Tokenizer.from_file(tokenizer_path(out_dir, read_manifest(out_dir)))
    torch.manual_seed(3)
    model = GPT(preset("tiny", vocab_size=tok.vocab_size, n_layer=2, n_embd=64, n_head=2, block_size=64))
    return model.eval(), tok


def by_hand(model, tok, sentence: str) -> float:
    """Sum over the sentence's tokens of log p(token | EOS and the tokens before), one
    sentence at a time through the full logits."""
    ids = [tok.eos_id] + tok.encode(sentence)
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]]))[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    return float(sum(logp[i, ids[i + 1]] for i in range(len(ids) - 1)))


def test_pair_accuracy_is_the_share_of_good_sentences_scored_higher(model_and_tokenizer, tmp_path):
    model, tok = model_and_tokenizer
    sentences = [s for pair in PAIRS for s in pair]
    expected = np.array([by_hand(model, tok, s) for s in sentences])
    assert sentence_logprobs(model, tok, sentences, batch=3) == pytest.approx(expected, abs=1e-4)
    wins = expected[0::2] > expected[1::2]
    assert 0 < wins.sum() < len(PAIRS)  # the comparison decides both ways on this model
    for name, rows in (("a", PAIRS[:2]), ("b", PAIRS[2:])):
        with gzip.open(tmp_path / f"{name}.jsonl.gz", "wt") as f:
            f.writelines(json.dumps({"sentence_good": g, "sentence_bad": b}) + "\n" for g, b in rows)
    result = pair_accuracy(model, tok, str(tmp_path / "*.jsonl.gz"))
    assert result["files"] == {"a": wins[:2].mean(), "b": wins[2:].mean()}
    assert result["accuracy"] == pytest.approx((wins[:2].mean() + wins[2:].mean()) / 2)
    (tmp_path / "bad.jsonl").write_text(json.dumps({"sentence_good": "x"}) + "\n")
    with pytest.raises(ValueError, match="bad.jsonl: line 1 lacks sentence_good or sentence_bad"):
        pair_accuracy(model, tok, str(tmp_path / "bad.jsonl"))


def test_text_files_of_every_kind_are_read(tmp_path):
    (tmp_path / "a.txt").write_text("one whole file\nas one document\n")
    pq.write_table(pa.table({"id": ["x", "y"], "text": ["parquet row", "another"]}), tmp_path / "b.parquet")
    (tmp_path / "c.jsonl").write_text('{"text": "json row"}\n\n{"text": ""}\n')
    (tmp_path / "c2.txt").write_bytes("caf\u00e9 \u201cquoted\u201d".encode("cp1252"))
    assert read_texts(str(tmp_path / "*")) == ["one whole file\nas one document\n", "parquet row",
                                               "another", "json row", "caf\u00e9 \u201cquoted\u201d"]
    (tmp_path / "d.csv").write_text("text\nrow\n")
    with pytest.raises(ValueError, match="d.csv: not a text file"):
        read_texts(str(tmp_path / "*"))
    with pytest.raises(ValueError, match="no file matches"):
        read_texts(str(tmp_path / "*.none"))
