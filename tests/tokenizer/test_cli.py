import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cc2gpt
from tokenizer import Tokenizer, train_tokenizer
from tokenizer.sample import entry, smallest_within
from tokenizer.shards import split_of


def write_docs(folder, corpus):
    folder.mkdir()
    for part in range(2):
        texts = corpus[part * 400:(part + 1) * 400]
        ids = [f"id-{part}-{i}" for i in range(len(texts))]
        pq.write_table(pa.table({"id": ids, "text": texts, "url": [""] * len(texts)}), folder / f"{part:05d}.parquet")


def test_train_from_parquet_documents(tmp_path, corpus, capsys):
    write_docs(tmp_path / "documents", corpus)
    out = tmp_path / "model/tokenizer.model"
    assert cc2gpt.main(["tokenizer", "train", "--input", str(tmp_path / "documents"), "--vocab-size", "400",
                        "--output", str(out), "--sample-bytes", "20000", "--val-fraction", "0.2"]) == 0
    tok = Tokenizer.from_file(out)
    assert tok.vocab_size == 400
    # it trained on exactly the bounded smallest-hash sample of the 800 documents' train split
    ids = [(f"id-{part}-{i}", part * 400 + i) for part in range(2) for i in range(400)]
    entries = [entry(doc_id, corpus[n]) for doc_id, n in ids if split_of(doc_id, 0.2) == "train"]
    assert 560 < len(entries) < 720
    sample, size = smallest_within(entries, 20000)
    assert 0 < size <= 20000 and len(sample) < 800
    assert out.read_bytes() == train_tokenizer([e[2] for e in sample], 400)
    assert tok.sha256 in capsys.readouterr().err


def test_no_documents_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no Parquet files"):
        cc2gpt.main(["tokenizer", "train", "--input", str(tmp_path / "empty"), "--output", str(tmp_path / "m")])
