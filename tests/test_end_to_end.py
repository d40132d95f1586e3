"""The whole path on the real shared WARC files: curate -> inspect -> train -> generate.

One curation run (module fixture) is checked against DESIGN.md's output
contract; a short training run and generation then consume it through the
same command line a user types.
"""
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cc2gpt
from cc2gpt.pipeline.cli import EXIT_NOTHING_KEPT
from cc2gpt.tokenizer import Tokenizer
from cc2gpt.tokenizer.shards import open_split

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def out(curated_out):
    """tests/conftest.py's curation of every shared WARC file (vocabulary 1024, val 10%)."""
    return curated_out


@pytest.fixture(scope="module")
def manifest(out):
    return json.loads((out / "manifest.json").read_text())


def test_funnel_holds_every_kind_of_outcome(manifest):
    funnel = manifest["funnel"]          # build_manifest refuses a funnel that does not add up
    assert funnel["kept"] > 100          # real_pages_aeb alone holds 196 articles
    assert funnel["skipped"]["not_html"] > 50   # the Wikipedia capture's JS/CSS/images
    assert any(reason.startswith("dedup:") for reason in funnel["rejected"])


def test_documents_and_rejects_are_parquet_with_signals(out, manifest):
    docs = pq.read_table(out / "documents")
    assert docs.num_rows == manifest["funnel"]["kept"]
    for column in ("id", "url", "crawl_date", "text", "language", "language_score",
                   "dup_cluster_size"):
        assert column in docs.column_names
    assert any(name.startswith("gopher_quality_") for name in docs.column_names)
    assert len(set(docs["id"].to_pylist())) == docs.num_rows
    assert min(docs["language_score"].to_pylist()) >= 0.65
    rejected = pq.read_table(out / "rejected")
    assert rejected.num_rows == sum(manifest["funnel"]["rejected"].values())
    keys = {f"{s}:{r}" for s, r in zip(rejected["stage"].to_pylist(), rejected["reason"].to_pylist())}
    assert keys == set(manifest["funnel"]["rejected"])
    signatures = pq.read_table(out / "dedup")   # what a later run's --dedup-against reads
    assert sorted(signatures["id"].to_pylist()) == sorted(docs["id"].to_pylist())
    # each kept document stands for itself and the duplicates dropped for it, read back from parked files
    dedup_rejects = sum(n for reason, n in manifest["funnel"]["rejected"].items() if reason.startswith("dedup:"))
    assert sum(docs["dup_cluster_size"].to_pylist()) == docs.num_rows + dedup_rejects
    assert not (out / "_temporary").exists()


def test_tokenizer_checksum_and_token_shards_follow_the_contract(out, manifest):
    tok = manifest["tokenizer"]
    assert hashlib.sha256((out / tok["path"]).read_bytes()).hexdigest() == tok["sha256"]
    assert tok["dtype"] == "uint16" and tok["vocab_size"] == 1024
    shard_docs = 0
    for split in ("train", "val"):
        files = manifest["splits"][split]["files"]
        assert files, f"no {split} shards"
        for entry in files:
            path = out / entry["path"]
            assert path.suffix == ".arrow" and path.parent == out / "tokens" / split
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            assert table.schema.field("id").type == pa.string()
            assert table.schema.field("tokens").type == pa.list_(pa.uint16())
            rows = table["tokens"].to_pylist()
            assert all(row[-1] == tok["eos_id"] for row in rows)
            assert len(rows) == entry["num_docs"]
            assert sum(map(len, rows)) == entry["num_tokens"]
            shard_docs += len(rows)
    assert shard_docs == manifest["funnel"]["kept"]


def test_inspect_shows_the_funnel(out, manifest, capsys):
    assert cc2gpt.main(["inspect", str(out), "--shards"]) == 0
    shown = capsys.readouterr().out
    assert f"records read  {manifest['funnel']['records']:>8}" in shown
    assert "train" in shown and "val" in shown


def test_report_shows_each_reason_victims_beside_kept_documents_at_the_threshold(out, manifest):
    from cc2gpt.pipeline.report import victims
    sections = victims(out, manifest["config"], manifest["funnel"]["rejected"])
    assert [s["reason"] for s in sections] == sorted(manifest["funnel"]["rejected"],
                                                     key=lambda k: (-manifest["funnel"]["rejected"][k], k))
    assert all(s["rejected"] for s in sections)  # every reason shows what it removed
    measured = [s for s in sections if s["signal"] and s["kept"]]
    assert measured, "no reason with a signal and kept neighbours on the real WARCs"
    for s in measured:  # both sides of the threshold, the nearest first
        low = s["reason"].split(":")[1].startswith(("too_few", "short", "low", "line_punct"))
        assert all((r[s["signal"]] < s["threshold"]) == low for r in s["rejected"]), s["reason"]
        assert all((k[s["signal"]] >= s["threshold"]) == low for k in s["kept"]), s["reason"]
        gaps = [abs(r[s["signal"]] - s["threshold"]) for r in s["rejected"]]
        assert gaps == sorted(gaps)


def test_train_then_generate_from_curated_shards(out, tmp_path, capsys):
    run = tmp_path / "run"
    assert cc2gpt.main(["train", "--data", str(out), "--preset", "tiny", "--out", str(run),
                        "--max-steps", "30", "--set", "eval_interval=15"]) == 0
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert losses[-1] < losses[0]
    assert any("val_bpb" in m for m in metrics)
    capsys.readouterr()
    texts = []
    for _ in range(2):
        assert cc2gpt.main(["generate", "--checkpoint", str(run), "--prompt", "The",
                            "--max-new-tokens", "20", "--seed", "7"]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and texts[0].strip()


def test_curate_with_a_given_tokenizer_uses_it_unchanged(out, manifest, tmp_path):
    given = out / manifest["tokenizer"]["path"]
    again = tmp_path / "again"
    assert cc2gpt.main(["curate", "--input", str(SHARED / "warc" / "dolma_wget_sample-0000.warc.gz"),
                        "--output", str(again), "--tokenizer", str(given),
                        "--direct_running_mode=in_memory"]) == 0
    second = json.loads((again / "manifest.json").read_text())
    assert second["tokenizer"]["sha256"] == manifest["tokenizer"]["sha256"]
    assert (again / "tokenizer" / "tokenizer.model").read_bytes() == given.read_bytes()
    assert second["funnel"]["kept"] > 0


ONE_WARC = str(SHARED / "warc" / "dolma_wget_sample-0000.warc.gz")


def test_default_vocabulary_on_a_small_sample_trains_what_the_sample_supports(tmp_path, capsys):
    """32,768 pieces is more than 20 kept pages support: the job trains the largest vocabulary
    they do, records it in the manifest and says so."""
    out = tmp_path / "out"
    assert cc2gpt.main(["curate", "--input", ONE_WARC, "--output", str(out), "--direct_running_mode=in_memory"]) == 0
    tok = json.loads((out / "manifest.json").read_text())["tokenizer"]
    assert tok["vocab_size"] == Tokenizer.from_file(out / tok["path"]).vocab_size
    assert 1000 < tok["vocab_size"] < 32768
    assert f"trained a tokenizer of {tok['vocab_size']:,} pieces" in capsys.readouterr().err


@pytest.mark.parametrize("given_tokenizer", [False, True])
def test_a_job_that_keeps_nothing_writes_its_funnel_and_says_so(out, manifest, tmp_path, capsys, given_tokenizer):
    nothing = tmp_path / "nothing"
    given = ["--tokenizer", str(out / manifest["tokenizer"]["path"])] if given_tokenizer else []
    assert cc2gpt.main(["curate", "--input", ONE_WARC, "--output", str(nothing), "--languages", "zu",
                        "--direct_running_mode=in_memory", *given]) == EXIT_NOTHING_KEPT
    assert "nothing was kept" in capsys.readouterr().err
    written = json.loads((nothing / "manifest.json").read_text())
    funnel = written["funnel"]
    assert funnel["kept"] == 0 and funnel["rejected"]["language:wrong_language"] > 0
    docs, rejected = pq.read_table(nothing / "documents"), pq.read_table(nothing / "rejected")
    assert docs.num_rows == 0 and docs.column_names == pq.read_table(out / "documents").column_names
    assert rejected.num_rows == sum(funnel["rejected"].values())
    if given_tokenizer:   # one empty shard per split, opened and checked as the trainer's reader does
        shards = [s for split in ("train", "val") for s in open_split(nothing, split)]
        assert len(shards) == 2 and all(s.num_docs == 0 for s in shards)
        assert written["tokenizer"]["sha256"] == manifest["tokenizer"]["sha256"]
    else:
        assert written["tokenizer"] is None and not (nothing / "tokens").exists()
    assert cc2gpt.main(["inspect", str(nothing)]) == 0
