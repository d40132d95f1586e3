import json

import pytest

from cc2gpt.tokenizer.manifest import build_manifest, dumps_manifest, read_manifest, write_manifest

FILES = [
    {"split": "val", "path": "tokens/val/00000.arrow", "num_docs": 2, "num_tokens": 10},
    {"split": "train", "path": "tokens/train/00001.arrow", "num_docs": 3, "num_tokens": 30},
    {"split": "train", "path": "tokens/train/00000.arrow", "num_docs": 4, "num_tokens": 40},
]
FUNNEL = {"records": 20, "skipped": {"revisit": 2, "not_html": 3}, "rejected": {"language:wrong_language": 6}, "kept": 9}


def test_layout_matches_the_output_contract(tmp_path, tok):
    m = build_manifest(tokenizer=tok, tokenizer_path="tokenizer/tokenizer.model", shards=FILES,
                       funnel=FUNNEL, config={"vocab_size": 512})
    assert m["tokenizer"] == {"path": "tokenizer/tokenizer.model", "sha256": tok.sha256, "vocab_size": 512,
                              "eos_id": 1, "dtype": "uint16"}
    assert [f["path"] for f in m["splits"]["train"]["files"]] == ["tokens/train/00000.arrow",
                                                                  "tokens/train/00001.arrow"]
    assert m["splits"]["val"]["files"] == [{"path": "tokens/val/00000.arrow", "num_docs": 2, "num_tokens": 10}]
    assert m["funnel"] == {"records": 20, "skipped": {"not_html": 3, "revisit": 2},
                           "rejected": {"language:wrong_language": 6}, "kept": 9}
    assert m["config"] == {"vocab_size": 512}
    assert {"python", "pyarrow", "sentencepiece", "apache-beam"} <= set(m["versions"])
    write_manifest(tmp_path, m)
    assert read_manifest(tmp_path) == json.loads(dumps_manifest(m))
    # deterministic: the same inputs in another order give the same bytes
    again = build_manifest(tokenizer=tok, tokenizer_path="tokenizer/tokenizer.model", shards=FILES[::-1],
                           funnel=FUNNEL, config={"vocab_size": 512})
    assert dumps_manifest(again) == (tmp_path / "manifest.json").read_bytes()


def test_funnel_must_add_up(tok):
    with pytest.raises(ValueError, match="20 records but 19"):
        build_manifest(tokenizer=tok, tokenizer_path="t", shards=[], config={},
                       funnel={**FUNNEL, "kept": 8})


def test_read_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="no manifest"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"tokenizer": {"path": "x"}, "splits": {}}')
    with pytest.raises(ValueError, match="missing funnel, config, versions, tokenizer.sha256"):
        read_manifest(tmp_path)


def test_tokenizer_as_dict_and_given_versions(tok):
    info = {"path": "tokenizer/tokenizer.model", "sha256": tok.sha256, "vocab_size": 512, "eos_id": 1,
            "dtype": "uint16"}
    m = build_manifest(tokenizer=info, shards=FILES, funnel=FUNNEL, config={}, versions={"cc2gpt": "x"})
    assert m["tokenizer"] == info and m["versions"] == {"cc2gpt": "x"}
