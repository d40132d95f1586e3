"""`cc2gpt ablate` on a real curation run (tests/conftest.py's curated_out): the arms it
builds from OUT/, and one small ablation end to end (results, plot, inspect, eval, resume)."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import cc2gpt
from cc2gpt.tokenizer.manifest import read_manifest
from cc2gpt.train.ablate.arms import CURATED, RAW, build_arms, select
from cc2gpt.train.ablate.report import write_results

from .conftest import DATA, SMALL

EVAL = str(DATA / "lm_corpus/state_union/194*.txt")


def ids_of(arms, name) -> set[str]:
    return {arms.docs[i].id for i in arms.members[name]}


def parquet_ids(folder: Path, **where) -> set[str]:
    rows = [r for f in sorted(folder.glob("*.parquet"))
            for r in pq.read_table(f, columns=["id", "text", *where]).to_pylist()]
    return {r["id"] for r in rows if r["text"] and all(r[k] == v for k, v in where.items())}


def test_arms_nest_in_the_jobs_order_and_curated_is_the_kept_set(curated_out):
    arms = build_arms(curated_out, read_manifest(curated_out), 0.05, leave_one_out=True)
    kept = parquet_ids(curated_out / "documents")
    held = {arms.docs[i].id for i in arms.heldout}
    assert held and len(held) < len(arms.docs) // 5
    # raw: every kept document and every reject with text, minus the held-out slice
    assert ids_of(arms, RAW) == (kept | parquet_ids(curated_out / "rejected")) - held
    assert ids_of(arms, CURATED) == kept - held
    assert arms.steps[0] == "language" and arms.steps[-1] == "exact_dedup"
    assert arms.steps.index("gopher_repetition") < arms.steps.index("gopher_quality") < \
        arms.steps.index("c4") < arms.steps.index("fineweb")
    cumulative = [RAW, *arms.steps[:-1], CURATED]
    assert list(arms.members)[:len(cumulative)] == cumulative
    for before, after, step in zip(cumulative, cumulative[1:], arms.steps):
        stage = "dedup" if step == "exact_dedup" else step
        removed = ids_of(arms, before) - ids_of(arms, after)
        assert ids_of(arms, after) <= ids_of(arms, before)
        assert removed and removed == parquet_ids(curated_out / "rejected", stage=stage) - held
    # leave-one-out: the kept set plus one stage's rejects
    assert ids_of(arms, "no_language") == ids_of(arms, CURATED) | (ids_of(arms, RAW) - ids_of(arms, "language"))
    assert select(arms, [CURATED, RAW]) == [RAW, CURATED]
    with pytest.raises(ValueError, match="unknown arm"):
        select(arms, ["gopher"])


def ablate(out, abl, *extra):
    return cc2gpt.main(["ablate", "--data", str(out), "--eval", EVAL, "--out", str(abl),
                        "--tokens", "8192", "--vocab-size", "512", "--eval-tokens", "2048",
                        "--eval-points", "2", "--arms", "raw,curated", "--jobs", "2",
                        "--set", *SMALL, *extra])


def test_ablation_writes_results_resumes_and_matches_eval(curated_out, tmp_path, capsys):
    abl = tmp_path / "abl"
    assert ablate(curated_out, abl, "--seeds", "1") == 0
    results = json.loads((abl / "results.json").read_text())
    assert [(r["arm"], r["seed"]) for r in results["runs"]] == [(RAW, 0), (CURATED, 0)]
    raw, curated = results["arms"][RAW], results["arms"][CURATED]
    assert curated["documents"] < raw["documents"] and curated["tokens"] < raw["tokens"]
    for arm in (raw, curated):
        assert arm["epochs"] == pytest.approx(8192 / arm["tokens"])
        assert 0 < arm["eval_bpb"]["mean"] < 12 and 0 < arm["raw_heldout_bpb"]["mean"] < 12
    assert [p[0] for p in results["runs"][0]["curve"]] == [4096, 8192]
    assert (abl / "ablation.png").stat().st_size > 1000
    table = (abl / "results.md").read_text()
    assert "| raw | " in table and "| curated | " in table
    capsys.readouterr()
    assert cc2gpt.main(["inspect", str(abl)]) == 0
    assert capsys.readouterr().out == table

    # `cc2gpt eval` on the eval text is the trainer's val bpb on the same text
    run = abl / "runs" / CURATED / "seed0"
    assert cc2gpt.main(["eval", str(run), "--text", EVAL, "--eval-tokens", "2048"]) == 0
    scored = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert scored["text"]["bpb"] == pytest.approx(results["runs"][1]["eval_bpb"], rel=1e-5)

    # a rerun keeps finished runs and resumes an unfinished one (killed after its last
    # checkpoint, before its result was written) from its checkpoint
    finished = (run / "result.json").stat().st_mtime_ns
    raw0 = abl / "runs" / RAW / "seed0"
    before = json.loads((raw0 / "result.json").read_text())
    (raw0 / "result.json").unlink()
    assert ablate(curated_out, abl, "--seeds", "1") == 0
    assert (run / "result.json").stat().st_mtime_ns == finished
    assert "resuming from" in (abl / "runs" / RAW / "seed0.log").read_text()
    after = json.loads((raw0 / "result.json").read_text())
    assert after["eval_bpb"] == before["eval_bpb"] and after["curve"] == before["curve"]
    assert ablate(curated_out, abl, "--seeds", "1", "--tokens", "4096") == 1  # other options
    assert "made with other tokens" in capsys.readouterr().err
    assert ablate(curated_out, tmp_path / "abl2", "--heldout", "0.0001") == 1  # refused before training
    assert "held-out slice of raw (raise --heldout) has 0 tokens" in capsys.readouterr().err


def test_results_table_marks_differences_against_twice_the_seed_spread(tmp_path):
    runs = [{"arm": arm, "seed": k, "trained_tokens": 1000, "eval_bpb": bpb, "raw_heldout_bpb": 2.0,
             "curve": [[500, bpb + 1], [1000, bpb]]}
            for arm, values in ((RAW, (3.0, 3.2)), ("language", (2.5, 2.6)), (CURATED, (3.1, 3.3)))
            for k, bpb in enumerate(values)]
    stats = {name: {"documents": 10, "tokens": 500, "bytes": 2000} for name in (RAW, "language", CURATED)}
    config = {"data": "OUT", "preset": "tiny", "tokens": 1000, "vocab_size": 512, "eval": "E",
              "eval_tokens": 64}
    results = write_results(tmp_path, config, stats, runs)
    assert results["arms"][RAW]["epochs"] == 2.0
    assert results["arms"]["language"]["eval_bpb"]["mean"] == pytest.approx(2.55)
    rows = {line.split(" | ")[0][2:]: line for line in (tmp_path / "results.md").read_text().splitlines()
            if line.startswith("| ") and " | 10 | " in line}
    # spread: std 0.141 (raw), 0.071 (language); -0.55 is beyond 2 x 0.141, +0.10 within
    assert "3.100 ± 0.141" in rows[RAW] and "-0.550 (beyond 2σ)" in rows["language"]
    assert "+0.100 (within 2σ)" in rows[CURATED] and "+0.000 (within 2σ)" in rows[CURATED]
    assert (tmp_path / "ablation.png").stat().st_size > 1000
