"""Documents parked in temporary Parquet: dedup on their references decides as on the documents,
and the sinks write every row back with its decision."""
import random
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from cc2gpt.pipeline.dedup import Dedup, DedupConfig
from cc2gpt.pipeline.dedup.minhash import MinHasher
from cc2gpt.pipeline.doc import Doc
from cc2gpt.pipeline.sinks import WriteDocuments
from cc2gpt.pipeline.stash import TEMPORARY, Stash, remove_temporary

CORPUS = Path(__file__).resolve().parents[2] / "../shared/data/lm_corpus/gutenberg/austen-persuasion.txt"
CONFIG = DedupConfig(cc_rounds=4)
SIGNALS = ["quality_score"]


def _docs() -> list[Doc]:
    """Distinct windows of a book, exact copies (whitespace changed) and near copies (a few words changed)."""
    words = CORPUS.read_text(encoding="utf-8", errors="replace").split()
    rng = random.Random(3)
    docs = []
    for i in range(60):
        text = " ".join(words[i * 150:i * 150 + 120])
        docs.append(Doc(id=f"w{i:03d}", url=f"https://a.example/{i}", crawl_date="2024", text=text,
                        language="en", language_score=0.9, signals={"quality_score": i / 60}))
        if i % 5 == 0:
            docs.append(Doc(id=f"x{i:03d}", url="", crawl_date="", text=text.replace(" ", "  ")))
        if i % 7 == 0:
            near = text.split()
            near[rng.randrange(len(near))] = "changed"
            docs.append(Doc(id=f"n{i:03d}", url="", crawl_date="", text=" ".join(near)))
    return docs


def _run(build):
    p = beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"]))
    build(p)
    p.run().wait_until_finish()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """OUT written through Stash -> Dedup -> WriteDocuments, and Dedup's decisions on the Docs themselves."""
    out, direct = tmp_path_factory.mktemp("stash"), tmp_path_factory.mktemp("direct")
    docs = _docs()
    hasher = MinHasher(CONFIG.num_perm, CONFIG.ngram, CONFIG.seed, *CONFIG.bands_rows())

    def via_stash(p):
        refs = (p | beam.Create(docs, reshuffle=False)
                | Stash(f"{out}/{TEMPORARY}/kept", SIGNALS, True, hasher, max_chars=5_000))  # many files
        deduped = refs | Dedup(CONFIG)
        _ = (deduped["kept"], deduped["rejected"]) | beam.Flatten() | WriteDocuments(str(out), SIGNALS)

    def on_docs(p):
        deduped = p | beam.Create(docs, reshuffle=False) | Dedup(CONFIG)
        for name in ("kept", "rejected"):
            _ = (deduped[name] | f"Rows{name}" >> beam.Map(
                lambda d: f"{d.id}\t{d.dup_cluster_size}\t{d.stage}\t{d.reason}\t{d.duplicate_of}")
                 | f"Write{name}" >> beam.io.WriteToText(str(direct / name)))

    _run(via_stash)
    _run(on_docs)
    expected = {name: sorted(line for f in direct.glob(f"{name}*") for line in f.read_text().splitlines())
                for name in ("kept", "rejected")}
    return out, docs, expected


def test_dedup_on_references_decides_as_on_documents(written):
    out, _, expected = written
    kept, rejected = pq.read_table(out / "documents"), pq.read_table(out / "rejected")
    assert len(list((out / "documents").glob("*.parquet"))) > 3
    for table, name in ((kept, "kept"), (rejected, "rejected")):
        stage = table["stage"].to_pylist() if "stage" in table.column_names else [""] * table.num_rows
        reason = table["reason"].to_pylist() if "reason" in table.column_names else [""] * table.num_rows
        dup_of = table["duplicate_of"].to_pylist() if "duplicate_of" in table.column_names else [""] * table.num_rows
        rows = sorted("\t".join(map(str, r)) for r in zip(
            table["id"].to_pylist(), table["dup_cluster_size"].to_pylist(), stage, reason, dup_of))
        assert rows == expected[name]
    assert any("near_duplicate" in line for line in expected["rejected"])
    assert any("exact_duplicate" in line for line in expected["rejected"])


def test_rows_come_back_whole(written):
    out, docs, _ = written
    by_id = {d.id: d for d in docs}
    for table in (pq.read_table(out / "documents"), pq.read_table(out / "rejected")):
        for row in table.to_pylist():
            doc = by_id[row["id"]]
            assert (row["text"], row["url"], row["language_score"]) == (doc.text, doc.url, doc.language_score)
            assert row["quality_score"] == doc.signals.get("quality_score")


def test_temporary_files_are_removed(written):
    out, _, _ = written
    assert list((out / TEMPORARY).rglob("*.parquet"))
    remove_temporary(str(out))
    assert not (out / TEMPORARY).exists()
    remove_temporary(str(out))   # nothing left to remove is fine
