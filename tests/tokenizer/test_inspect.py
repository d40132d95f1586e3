import re

import pytest

from cc2gpt.tokenizer import EOS_ID
from cc2gpt.tokenizer.inspect import describe_shards
from cc2gpt.tokenizer.manifest import build_manifest, write_manifest
from cc2gpt.tokenizer.shards import ShardError, write_shard


@pytest.fixture
def out(tmp_path, tok, corpus):
    """A tiny OUT/: 2 train shards of 40 documents, 1 val shard of 10, the tokenizer, the manifest."""
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer/tokenizer.model").write_bytes(tok.proto)
    files = []
    for split, shard, texts in [("train", 0, corpus[:40]), ("train", 1, corpus[40:80]), ("val", 0, corpus[80:90])]:
        path = f"tokens/{split}/{shard:05d}.arrow"
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        info = write_shard(tmp_path / path, [f"{split}{i}" for i in range(len(texts))],
                           [tok.encode(t) + [EOS_ID] for t in texts], tok.dtype)
        files.append({"split": split, "path": path, **info})
    write_manifest(tmp_path, build_manifest(tokenizer=tok, tokenizer_path="tokenizer/tokenizer.model",
                                            shards=files, funnel={"records": 90, "kept": 90}, config={}))
    return tmp_path


def row(report, split):
    return re.search(rf"^  {split}\s+(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)$", report, re.M).groups()


def test_counts_and_exact_bytes_per_token(out, tok, corpus):
    report = describe_shards(out)
    files, docs, tokens, per_doc, bpt = row(report, "train")
    text_tokens = sum(len(tok.encode(t)) for t in corpus[:80])
    assert (files, docs, tokens) == ("2", "80", f"{text_tokens + 80:,}")
    assert float(per_doc) == pytest.approx((text_tokens + 80) / 80, abs=0.05)
    assert float(bpt) == pytest.approx(sum(len(t.encode()) for t in corpus[:80]) / text_tokens, abs=5e-4)
    assert row(report, "val")[:2] == ("1", "10")
    # the sample window crosses the first document boundary of each split, EOS shown
    assert report.count("<|endoftext|>") >= 2 and repr(corpus[0][-10:])[1:-1] + "<|endoftext|>" in report


def test_bad_shard_or_tokenizer_is_named(out):
    path = out / "tokens/val/00000.arrow"
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(ShardError, match="val/00000.arrow"):
        describe_shards(out)
    (out / "tokenizer/tokenizer.model").write_bytes(b"x")
    with pytest.raises(ValueError, match="tokenizer.model: sha256 does not match"):
        describe_shards(out)
