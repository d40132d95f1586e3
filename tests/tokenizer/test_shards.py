import numpy as np
import pytest

from cc2gpt.tokenizer import EOS_ID
from cc2gpt.tokenizer.manifest import build_manifest, write_manifest
from cc2gpt.tokenizer.shards import ShardError, open_shard, open_split, split_of, write_shard


def docs(tok, corpus, n=50):
    ids = [f"doc-{i:03d}" for i in range(n)]
    return ids, [tok.encode(t) + [EOS_ID] for t in corpus[:n]]


def test_write_then_open_is_zero_copy_and_exact(tmp_path, tok, corpus):
    ids, arrays = docs(tok, corpus)
    path = tmp_path / "00000.arrow"
    info = write_shard(path, ids, arrays, "uint16", eos_id=EOS_ID)
    assert info == {"num_docs": 50, "num_tokens": sum(map(len, arrays))}
    shard = open_shard(path, dtype="uint16", eos_id=EOS_ID, num_docs=50, num_tokens=info["num_tokens"])
    assert shard.tokens.dtype == np.uint16 and not shard.tokens.flags.owndata and not shard.tokens.flags.writeable
    assert shard.tokens.tolist() == [t for a in arrays for t in a]
    assert shard.ids == ids and shard.num_docs == 50
    assert [shard.document(i).tolist() for i in range(50)] == arrays
    assert tok.decode(shard.document(3)) == corpus[3]


def test_uint32_for_large_vocab(tmp_path):
    path = tmp_path / "big.arrow"
    write_shard(path, ["a", "b"], [[70000, 1], [5, 99999, 1]], "uint32", eos_id=1)
    shard = open_shard(path, dtype="uint32", eos_id=1, vocab_size=100000)
    assert shard.tokens.dtype == np.uint32 and shard.tokens.tolist() == [70000, 1, 5, 99999, 1]


def test_writer_rejects_missing_eos(tmp_path):
    with pytest.raises(ValueError, match="EOS"):
        write_shard(tmp_path / "x.arrow", ["a", "b"], [[5, 1], [5, 6]], "uint16", eos_id=1)


def test_truncated_file_is_named(tmp_path, tok, corpus):
    ids, arrays = docs(tok, corpus)
    path = tmp_path / "00007.arrow"
    write_shard(path, ids, arrays, "uint16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ShardError, match="00007.arrow.*truncated"):
        open_shard(path, dtype="uint16", eos_id=EOS_ID)


def test_wrong_dtype_is_named(tmp_path, tok, corpus):
    ids, arrays = docs(tok, corpus)
    path = tmp_path / "00001.arrow"
    write_shard(path, ids, arrays, "uint32")
    with pytest.raises(ShardError, match="00001.arrow.*schema"):
        open_shard(path, dtype="uint16", eos_id=EOS_ID)


def test_missing_eos_and_count_mismatch_are_named(tmp_path):
    path = tmp_path / "00002.arrow"
    write_shard(path, ["a", "b"], [[5, 1], [5, 6]], "uint16")  # no eos_id: writer does not check
    with pytest.raises(ShardError, match="00002.arrow: document 1 does not end with EOS"):
        open_shard(path, dtype="uint16", eos_id=1)
    write_shard(path, ["a", "b"], [[5, 1], [5, 6, 1]], "uint16")
    with pytest.raises(ShardError, match="00002.arrow: 5 tokens, manifest says 6"):
        open_shard(path, dtype="uint16", eos_id=1, num_tokens=6)
    with pytest.raises(ShardError, match="00002.arrow: 2 documents, manifest says 3"):
        open_shard(path, dtype="uint16", eos_id=1, num_docs=3)
    with pytest.raises(ShardError, match="00002.arrow: token id 6 >= vocab_size 6"):
        open_shard(path, dtype="uint16", eos_id=1, vocab_size=6)
    # quick mode checks only the last document's EOS (and skips the id range)
    write_shard(path, ["a", "b"], [[5, 6], [5, 1]], "uint16")
    assert open_shard(path, dtype="uint16", eos_id=1, vocab_size=6, full=False).num_docs == 2
    with pytest.raises(ShardError, match="00002.arrow: document 0 does not end with EOS"):
        open_shard(path, dtype="uint16", eos_id=1, vocab_size=6)
    write_shard(path, ["a", "b"], [[5, 1], [5, 6]], "uint16")
    with pytest.raises(ShardError, match="00002.arrow: document 1 does not end with EOS"):
        open_shard(path, dtype="uint16", eos_id=1, full=False)
    with pytest.raises(ShardError, match="nothing.arrow"):
        open_shard(tmp_path / "nothing.arrow", dtype="uint16", eos_id=1)


def test_open_split_checks_against_manifest(tmp_path, tok, corpus):
    (tmp_path / "tokens/train").mkdir(parents=True)
    ids, arrays = docs(tok, corpus)
    files = []
    for i in range(3):
        info = write_shard(tmp_path / f"tokens/train/{i:05d}.arrow", ids, arrays, tok.dtype, eos_id=EOS_ID)
        files.append({"split": "train", "path": f"tokens/train/{i:05d}.arrow", **info})
    m = build_manifest(tokenizer=tok, tokenizer_path="tokenizer/tokenizer.model", shards=files,
                       funnel={"records": 1, "kept": 1}, config={})
    write_manifest(tmp_path, m)
    shards = open_split(tmp_path, "train")
    assert [s.num_tokens for s in shards] == [f["num_tokens"] for f in files]
    assert open_split(tmp_path, "val") == []
    m["splits"]["train"]["files"][2]["num_tokens"] += 1
    write_manifest(tmp_path, m)
    with pytest.raises(ShardError, match="00002.arrow: .* tokens, manifest says"):
        open_split(tmp_path, "train")
    m["tokenizer"]["vocab_size"] = 70000
    with pytest.raises(ShardError, match="manifest.json: dtype uint16 does not fit vocab_size 70000"):
        open_split(tmp_path, "train", m)


def test_split_is_stable_and_proportional():
    ids = [f"<urn:uuid:{i}>" for i in range(20000)]
    splits = [split_of(i, 0.1) for i in ids]
    assert splits == [split_of(i, 0.1) for i in ids]
    assert 0.09 < splits.count("val") / len(ids) < 0.11
    assert all(split_of(i, 0.0) == "train" for i in ids[:100])
    # golden values: the split must not change across machines or releases
    assert [split_of(f"doc-{i}", 0.5) for i in range(8)] == [
        "val", "train", "val", "val", "val", "val", "val", "train"]
