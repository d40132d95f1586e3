import hashlib
import random
from pathlib import Path

import apache_beam as beam
import pytest

from cc2gpt.pipeline.doc import Doc
from cc2gpt.pipeline.tokenize import SmallestHashSample, TrainTokenizer, WriteTokenShards
from cc2gpt.tokenizer import Tokenizer, train_tokenizer
from cc2gpt.tokenizer.manifest import build_manifest, write_manifest
from cc2gpt.tokenizer.shards import open_shard, open_split, split_of, stable_hash

DATA = Path(__file__).resolve().parents[2] / "../shared/data"


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    """~200 KB of real text as 100 documents of 8 paragraphs, plus edge cases."""
    text = (DATA / "lm_corpus/tinyshakespeare/input.txt").read_text(encoding="utf-8")[:200_000]
    paras = text.split("\n\n")
    docs = [Doc(id=f"<urn:uuid:{i:04d}>", url="", crawl_date="", text="\n\n".join(paras[j:j + 8]))
            for i, j in enumerate(range(0, len(paras), 8))]
    docs.append(Doc(id="emoji", url="", crawl_date="", text="😀 中文 \u2581 tabs\t\tand  spaces\x00"))
    return docs


def run_job(docs, out: Path, shard_tokens: int, batch_chars: int, vocab_size=512):
    with beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(direct_num_workers=1)) as p:
        kept = p | beam.Create(docs)
        model = kept | TrainTokenizer(vocab_size, str(out / "tokenizer/tokenizer.model"), sample_bytes=100_000)
        shards = kept | WriteTokenShards(str(out), beam.pvalue.AsSingleton(model), shard_tokens=shard_tokens,
                                         val_fraction=0.1, batch_chars=batch_chars)
        shards | beam.combiners.ToList() | beam.Map(_save_manifest, out, beam.pvalue.AsSingleton(model))


def _save_manifest(shards, out, model):
    m = build_manifest(tokenizer=Tokenizer(model), tokenizer_path="tokenizer/tokenizer.model", shards=shards,
                       funnel={"records": 0, "kept": 0}, config={})
    write_manifest(out, m)


def digests(out: Path) -> dict:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_job_is_deterministic_and_lossless(tmp_path, docs):
    run_job(docs, tmp_path / "a", shard_tokens=20_000, batch_chars=1 << 20)
    run_job(docs[::-1], tmp_path / "b", shard_tokens=20_000, batch_chars=5000)  # other order, other batches
    a = digests(tmp_path / "a")
    assert a == digests(tmp_path / "b")
    assert "tokenizer/tokenizer.model" in a and "manifest.json" in a

    tok = Tokenizer.from_file(tmp_path / "a/tokenizer/tokenizer.model")
    by_id = {d.id: d.text for d in docs}
    seen = {}
    for split in ("train", "val"):
        shards = open_split(tmp_path / "a", split)  # validates against the manifest
        total = sum(s.num_tokens for s in shards)
        assert len(shards) <= -(-total // 20_000)  # ceil(tokens / target) shards at most
        for shard in shards:
            assert shard.path.startswith(str(tmp_path / "a" / "tokens" / split))
            assert shard.ids == sorted(shard.ids)
            for i, doc_id in enumerate(shard.ids):
                assert split_of(doc_id, 0.1) == split
                seen[doc_id] = tok.decode(shard.document(i))
    assert seen == by_id  # every document exactly once, and it decodes back to its text
    assert len(open_split(tmp_path / "a", "train")) > 3 and open_split(tmp_path / "a", "val")


def test_sample_is_the_smallest_hashes_of_the_train_split_within_budget():
    rng = random.Random(0)
    docs = [Doc(id=f"d{i}", url="", crawl_date="", text="x" * rng.randint(1, 300)) for i in range(2000)]
    budget, val_fraction = 20_000, 0.2
    # brute force: the train-split documents by hash, the longest prefix within the budget
    expected, total = [], 0
    train = [d for d in docs if split_of(d.id, val_fraction) == "train"]
    assert 1400 < len(train) < 1800   # the val split really takes documents away
    for d in sorted(train, key=lambda d: (stable_hash(d.id, "sample"), d.id)):
        if total + len(d.text) > budget:
            break
        expected.append(d.text)
        total += len(d.text)
    fn = SmallestHashSample(budget, val_fraction)
    parts = [docs[i::3] for i in range(3)]  # three workers, then a merge
    accs = []
    for part in parts:
        acc = fn.create_accumulator()
        for d in part:
            acc = fn.add_input(acc, d)
        accs.append(acc)
    assert fn.extract_output(fn.merge_accumulators(accs)) == expected
    assert sum(len(t) for t in expected) <= budget < sum(len(t) for t in expected) + 300


def train_in_beam(docs, path: Path, val_fraction: float) -> bytes:
    with beam.Pipeline() as p:
        p | beam.Create(docs) | TrainTokenizer(512, str(path), val_fraction=val_fraction)
    return path.read_bytes() if path.exists() else b""


def test_tokenizer_never_sees_val_documents(tmp_path, docs):
    """A word repeated all over one document: merged into one piece only when that document is in train."""
    word, val_fraction = "quixoticzebra", 0.1
    ids = {split: next(f"doc{i}" for i in range(1000) if split_of(f"doc{i}", val_fraction) == split)
           for split in ("train", "val")}
    pieces = {}
    for split, doc_id in ids.items():
        special = Doc(id=doc_id, url="", crawl_date="", text=f" {word}" * 3000)
        tok = Tokenizer(train_in_beam(docs + [special], tmp_path / f"{split}.model", val_fraction))
        pieces[split] = len(tok.encode(f" {word}"))
    assert pieces["train"] <= 2 and pieces["val"] >= 5


def test_no_train_document_trains_and_writes_nothing(tmp_path):
    val_only = [Doc(id=i, url="", crawl_date="", text="some text") for i in ("a", "b", "c")
                if split_of(i, 0.5) == "val"]
    assert val_only
    assert train_in_beam(val_only, tmp_path / "t.model", 0.5) == b""
    assert train_in_beam([], tmp_path / "t.model", 0.5) == b""
    assert not (tmp_path / "t.model").exists()


def test_given_model_as_bytes(tmp_path, docs):
    """A model passed as plain bytes (`--tokenizer MODEL`) rather than a side input."""
    tok = Tokenizer(train_tokenizer([d.text for d in docs], vocab_size=512))
    with beam.Pipeline() as p:
        p | beam.Create(docs[:20]) | WriteTokenShards(str(tmp_path), tok.proto, shard_tokens=10**9, val_fraction=0.0)
    shard = open_shard(tmp_path / "tokens/train/00000.arrow", dtype="uint16", eos_id=1, num_docs=20)
    assert tok.decode(shard.document(0)) == docs[int(shard.ids[0][10:14])].text
    # a split without documents gets one empty shard
    assert open_shard(tmp_path / "tokens/val/00000.arrow", dtype="uint16", eos_id=1, num_docs=0).num_tokens == 0


def test_no_model_writes_no_shard(tmp_path, docs):
    with beam.Pipeline() as p:
        p | beam.Create(docs[:5]) | WriteTokenShards(str(tmp_path), b"", val_fraction=0.0)
    assert not (tmp_path / "tokens").exists()


def test_cli_trains_the_same_model_as_the_job(tmp_path, docs):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import cc2gpt
    (tmp_path / "documents").mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": d.id, "text": d.text} for d in docs]),
                   tmp_path / "documents/00000.parquet")
    with beam.Pipeline() as p:
        p | beam.Create(docs) | TrainTokenizer(512, str(tmp_path / "job.model"), sample_bytes=60_000)
    cc2gpt.main(["tokenizer", "train", "--input", str(tmp_path / "documents"), "--vocab-size", "512",
                 "--output", str(tmp_path / "cli.model"), "--sample-bytes", "60000"])
    assert (tmp_path / "cli.model").read_bytes() == (tmp_path / "job.model").read_bytes()


def test_a_vocabulary_below_the_fixed_pieces_is_refused_before_the_job(capsys):
    from cc2gpt.pipeline.options import parse_args
    from cc2gpt.tokenizer.bpe import MIN_VOCAB_SIZE
    with pytest.raises(SystemExit):
        parse_args(["--input", "x", "--output", "y", "--vocab-size", str(MIN_VOCAB_SIZE - 1)])
    assert f"is below {MIN_VOCAB_SIZE}" in capsys.readouterr().err
    config, _ = parse_args(["--input", "x", "--output", "y", "--vocab-size", str(MIN_VOCAB_SIZE)])
    assert config.tokenize.vocab_size == MIN_VOCAB_SIZE
