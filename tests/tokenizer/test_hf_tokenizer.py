"""The Tokenizer over a Hugging Face tokenizer.json (GPT-2's real one, and a converted
sentencepiece model), against transformers and against our sentencepiece Tokenizer."""

import hashlib

import apache_beam as beam
import numpy as np
import pytest

from cc2gpt.pipeline.doc import Doc
from cc2gpt.pipeline.tokenize import WriteTokenShards
from cc2gpt.tokenizer import Tokenizer
from cc2gpt.tokenizer.manifest import read_manifest, tokenizer_path
from cc2gpt.tokenizer.out import write_out
from cc2gpt.tokenizer.shards import open_shard, open_split

transformers = pytest.importorskip("transformers")

TEXTS = ["Hello world", " leading space,  two spaces,\ttab\nnew line\r\n\n12345",
         "é€😀 中文 \u2581 bytes\x00", "a literal <|endoftext|> in a page stays text"]


@pytest.fixture(scope="module")
def gpt2(gpt2_tokenizer_json) -> Tokenizer:
    return Tokenizer.from_file(gpt2_tokenizer_json)


def test_gpt2_tokenizer_json_has_the_interface(gpt2, gpt2_tokenizer_json, corpus):
    assert (gpt2.filename, gpt2.vocab_size, gpt2.eos_id, gpt2.dtype) == (
        "tokenizer.json", 50257, 50256, "uint16")
    assert gpt2.sha256 == hashlib.sha256(gpt2_tokenizer_json.read_bytes()).hexdigest()
    hf = transformers.AutoTokenizer.from_pretrained(gpt2_tokenizer_json.parent)
    sizes = gpt2.piece_bytes()
    for text in TEXTS + corpus[:50]:
        ids = gpt2.encode(text)
        assert gpt2.decode(ids) == text
        assert sizes[ids].sum() == len(text.encode("utf-8"))  # bits per byte are exact
        if "<|" not in text:
            assert ids == hf(text)["input_ids"]
    assert gpt2.eos_id not in gpt2.encode(TEXTS[-1])  # special tokens in a text are text
    assert gpt2.decode(gpt2.encode("a") + [gpt2.eos_id]) == "a"
    assert sizes[gpt2.eos_id] == 0
    assert gpt2.encode_batch(TEXTS) == [gpt2.encode(t) for t in TEXTS]


def test_converted_sentencepiece_json_matches_sentencepiece(tok, model_bytes, tmp_path):
    """The export's tokenizer.json (byte fallback, U+2581 for spaces): same ids, same bytes."""
    from cc2gpt.model.hf_export import export_tokenizer

    (tmp_path / "tokenizer.model").write_bytes(model_bytes)
    export_tokenizer(tmp_path / "tokenizer.model", tmp_path, tok.eos_id)
    js = Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert (js.vocab_size, js.eos_id) == (tok.vocab_size, tok.eos_id)
    # not TEXTS[2]: a literal U+2581 reads as a space in the converted file (our
    # sentencepiece wrapper encodes it as its three bytes)
    for text in TEXTS[:2] + ["é€😀 中文 bytes\x00"]:
        assert js.encode(text) == tok.encode(text)
        assert js.decode(js.encode(text)) == text
    assert np.array_equal(js.piece_bytes(), tok.piece_bytes())


def test_bad_tokenizer_json_is_a_clear_error(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": ')
    with pytest.raises(ValueError, match="tokenizer.json: not a tokenizer.json"):
        Tokenizer.from_file(tmp_path / "tokenizer.json")
    from tokenizers import Tokenizer as HF
    from tokenizers.models import WordLevel

    (tmp_path / "tokenizer.json").write_text(HF(WordLevel({"a": 0, "b": 1}, unk_token="a")).to_str())
    with pytest.raises(ValueError, match="no end-of-text token"):
        Tokenizer.from_file(tmp_path / "tokenizer.json")


def test_shards_in_a_tokenizer_json_vocabulary(gpt2, gpt2_tokenizer_json, corpus, tmp_path):
    """OUT/ written with GPT-2's tokenizer: by the Beam stage (`curate --tokenizer
    tokenizer.json`) and by write_out; the manifest points at tokenizer/tokenizer.json."""
    docs = [Doc(id=f"d{i}", url="", crawl_date="", text=t) for i, t in enumerate(corpus[:30])]
    with beam.Pipeline() as p:
        p | beam.Create(docs) | WriteTokenShards(str(tmp_path / "beam"), gpt2.proto,
                                                 shard_tokens=10**9, val_fraction=0.0)
    shard = open_shard(tmp_path / "beam/tokens/train/00000.arrow", dtype="uint16",
                       eos_id=50256, num_docs=30, vocab_size=50257)
    assert gpt2.decode(shard.document(0)) == docs[int(shard.ids[0][1:])].text

    write_out(tmp_path / "out", gpt2_tokenizer_json.read_bytes(),
              [(d.id, d.text) for d in docs], 0.2)
    manifest = read_manifest(tmp_path / "out")
    assert manifest["tokenizer"]["path"] == "tokenizer/tokenizer.json"
    assert Tokenizer.from_file(tokenizer_path(tmp_path / "out", manifest)).sha256 == gpt2.sha256
    assert sum(s.num_docs for split in ("train", "val")
               for s in open_split(tmp_path / "out", split, manifest)) == 30


def test_curate_copies_a_given_tokenizer_json_and_lists_it(gpt2, gpt2_tokenizer_json, tmp_path):
    """The job's tokenizer step with `--tokenizer tokenizer.json`: OUT/tokenizer/tokenizer.json,
    and the manifest written from it points there; a bad file fails before the job runs."""
    from cc2gpt.pipeline.curate import Curate, _write_manifest
    from cc2gpt.pipeline.options import CurateConfig, TokenizeConfig

    config = CurateConfig(input=[], output=str(tmp_path),
                          tokenize=TokenizeConfig(tokenizer=str(gpt2_tokenizer_json)))
    with beam.Pipeline() as p:
        Curate(config)._tokenizer(p, None)
    assert (tmp_path / "tokenizer/tokenizer.json").read_bytes() == gpt2.proto
    _write_manifest(None, config, gpt2.proto, [], [], pages=0, skipped={}, rejected={}, kept=0)
    assert read_manifest(tmp_path)["tokenizer"] == {
        "path": "tokenizer/tokenizer.json", "sha256": gpt2.sha256, "vocab_size": 50257,
        "eos_id": 50256, "dtype": "uint16"}
    (tmp_path / "bad.json").write_text("{}")
    config.tokenize.tokenizer = str(tmp_path / "bad.json")
    with pytest.raises(ValueError, match=r"--tokenizer .*bad\.json: not a tokenizer\.json"):
        with beam.Pipeline() as p:
            Curate(config)._tokenizer(p, None)
