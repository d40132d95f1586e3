"""Curation report: funnel arithmetic from a hand-made OUT/ and a self-contained HTML file."""
import base64
import dataclasses
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cc2gpt.pipeline.filters import FilterConfig
from cc2gpt.pipeline.report import funnel_rows, reason_signal, threshold_at, victims, write_report


def make_out(tmp_path):
    config = {"language": {"languages": ["en"], "min_score": 0.65},
              "filters": dataclasses.asdict(FilterConfig())}
    config["filters"]["c4"] = None  # a filter turned off
    manifest = {"funnel": {"records": 10, "skipped": {"not_response": 4},
                           "rejected": {"extract:empty_text": 1, "language:wrong_language": 1,
                                        "gopher_quality:too_few_words": 1, "dedup:exact_duplicate": 1},
                           "kept": 2},
                "config": config}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    for folder in ("documents", "rejected"):
        (tmp_path / folder).mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "url": ["https://a.org/", "https://b.org/"],
                             "text": ["ab", "héllo"],
                             "language_score": [0.9, 0.95],
                             "gopher_quality_n_words": [120.0, 300.0]}),
                   tmp_path / "documents/part-0.parquet")
    pq.write_table(pa.table({"id": ["c", "d", "e", "f"], "url": ["https://c.org/", "", "", ""],
                             "text": ["", "xyz", "12345\nsecond line", "ab"],
                             "stage": ["extract", "language", "gopher_quality", "dedup"],
                             "reason": ["empty_text", "wrong_language", "too_few_words", "exact_duplicate"],
                             "language_score": [None, 0.2, 0.9, 0.9],
                             "gopher_quality_n_words": [None, None, 3.0, 120.0]}),
                   tmp_path / "rejected/part-0.parquet")
    return manifest


def test_funnel_counts_documents_and_bytes(tmp_path):
    manifest = make_out(tmp_path)
    kept = {"bytes": [2, 6]}
    rejected = {"stage": ["extract", "language", "gopher_quality", "dedup"], "bytes": [0, 3, 5, 2]}
    rows = funnel_rows(manifest, {k: np.array(v) for k, v in kept.items()},
                       {k: np.array(v) for k, v in rejected.items()})
    as_dict = {name: (docs, size) for name, docs, size in rows}
    assert as_dict["records read"] == (10, None) and as_dict["pages and text documents"] == (6, None)
    assert as_dict["extract"] == (5, 8 + 3 + 5 + 2)
    assert as_dict["language"] == (4, 8 + 5 + 2)
    assert as_dict["gopher_quality"] == (3, 8 + 2)
    assert as_dict["dedup"] == (2, 8)
    assert "c4" not in as_dict and [r[0] for r in rows][-3:] == ["fineweb", "pii", "dedup"]


def test_thresholds_come_from_the_run_config():
    config = {"filters": {"gopher_repetition": {"top_n_grams": [[2, 0.25]]}, "c4": None}}
    assert threshold_at(config, ("filters", "gopher_repetition", "top_n_grams", 0, 1)) == 0.25
    assert threshold_at(config, ("filters", "c4", "min_num_sentences")) is None


def test_report_is_self_contained_html(tmp_path):
    make_out(tmp_path)
    path = write_report(tmp_path, tmp_path / "report.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "src=\"http" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "gopher_quality:too_few_words" in page and "<td class=num>10</td>" in page
    assert "<pre>12345\nsecond line</pre>" in page and "https://c.org/" in page


def test_victims_put_rejected_and_kept_side_by_side_at_the_threshold(tmp_path):
    manifest = make_out(tmp_path)
    sections = {s["reason"]: s for s in victims(tmp_path, manifest["config"], manifest["funnel"]["rejected"])}
    words = sections["gopher_quality:too_few_words"]
    assert (words["signal"], words["threshold"]) == ("gopher_quality_n_words", 50)
    assert [r["id"] for r in words["rejected"]] == ["e"] and [r["id"] for r in words["kept"]] == ["a", "b"]
    assert words["rejected"][0]["opening"] == "12345\nsecond line"
    assert sections["extract:empty_text"]["signal"] is None
    assert [r["url"] for r in sections["extract:empty_text"]["rejected"]] == ["https://c.org/"]
    assert reason_signal("gopher_repetition:top_2_gram_frac",
                         {"filters": {"gopher_repetition": {"top_n_grams": [[2, 0.2], [3, 0.18]]}}}) == (
        "gopher_repetition_top_2_gram_frac", 0.2)
