"""The curation report: one self-contained HTML file (PNG pictures inlined as base64).

It shows the funnel (documents and text bytes left after each stage), why
documents were dropped, and how the main quality signals are distributed
against the thresholds the run used, all read back from OUT/ with pyarrow
(manifest.json, documents/*.parquet, rejected/*.parquet).

Text bytes are those stored in the Parquet files: a document's text after the
stage that dropped it (C4 line cleaning and PII masking rewrite the text, so a
reject after them counts its cleaned size). Pages dropped before extraction (by
the URL blocklist) have no text, so byte counts start at the extraction stage.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from tokenizer.manifest import MANIFEST

# (signal column, label, threshold locations in the manifest config, log x-axis)
MAIN_SIGNALS = (
    ("language_score", "language ID score", [("language", "min_score")], False),
    ("gopher_quality_n_words", "words", [("filters", "gopher_quality", "min_doc_words")], True),
    ("gopher_quality_mean_word_length", "mean word length",
     [("filters", "gopher_quality", "min_avg_word_length"),
      ("filters", "gopher_quality", "max_avg_word_length")], False),
    ("gopher_quality_alpha_words_ratio", "alphabetic word ratio",
     [("filters", "gopher_quality", "min_alpha_words_ratio")], False),
    ("gopher_quality_stop_words", "stop words", [("filters", "gopher_quality", "min_stop_words")], True),
    ("gopher_repetition_dup_line_frac", "duplicate line fraction",
     [("filters", "gopher_repetition", "dup_line_frac")], False),
    ("gopher_repetition_top_2_gram_frac", "top 2-gram character fraction",
     [("filters", "gopher_repetition", "top_n_grams", 0, 1)], False),
    ("gopher_repetition_dup_5_gram_frac", "duplicate 5-gram character fraction",
     [("filters", "gopher_repetition", "dup_n_grams", 0, 1)], False),
    ("c4_sentences", "sentences (after C4 cleaning)", [("filters", "c4", "min_num_sentences")], True),
    ("c4_lines_removed_ratio", "lines removed by C4", [], False),
    ("fineweb_line_punct_ratio", "lines ending in punctuation",
     [("filters", "fineweb", "line_punct_thr")], False),
    ("fineweb_short_line_ratio", "short line ratio", [("filters", "fineweb", "short_line_thr")], False),
    ("fineweb_char_dup_ratio", "duplicated line characters",
     [("filters", "fineweb", "char_duplicates_ratio")], False),
    ("fineweb_newline_ratio", "newlines per word", [("filters", "fineweb", "new_line_ratio")], False),
)


def threshold_at(config: dict, path: tuple):
    """A threshold from the manifest config, or None (filter off, key absent)."""
    value = config
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value if isinstance(value, (int, float)) else None


def _read(folder: Path, wanted: list[str]) -> dict[str, np.ndarray]:
    """The wanted columns (plus text byte length as `bytes`) of every Parquet file in folder."""
    parts: dict[str, list] = {}
    for path in sorted(folder.glob("*.parquet")):
        part = pq.ParquetFile(path)  # one open: schema and columns from the same footer
        names = part.schema_arrow.names
        table = part.read(columns=[c for c in wanted if c in names] + ["text"])
        parts.setdefault("bytes", []).append(pc.binary_length(table["text"]).to_numpy(zero_copy_only=False))
        for c in wanted:
            if c in names:
                parts.setdefault(c, []).append(table[c].to_numpy(zero_copy_only=False))
            else:
                parts.setdefault(c, []).append(np.full(len(table), None, dtype=object))
    return {c: np.concatenate(v) if v else np.array([]) for c, v in parts.items()}


def _stage_order(config: dict, rejected_stages) -> list[str]:
    """The job's stages in run order: the URL blocklist, extraction, language ID, the quality steps, dedup."""
    steps = [name for name, cfg in (config.get("filters") or {}).items() if cfg is not None]
    order = [*(["url_blocklist"] if "url_blocklist" in steps else []), "extract", "language",
             *(s for s in steps if s != "url_blocklist")]
    order += sorted(s for s in set(rejected_stages) if s not in order and s != "dedup")
    return order + ["dedup"]


def funnel_rows(manifest: dict, kept: dict, rejected: dict) -> list[tuple[str, int, int | None]]:
    """[(after stage, documents left, text bytes left or None)] from records down to kept."""
    funnel = manifest["funnel"]
    records = funnel["records"]
    pages = records - sum(funnel["skipped"].values())
    stages = _stage_order(manifest.get("config", {}), rejected.get("stage", []))
    stage_of = rejected.get("stage", np.array([], dtype=object))
    rej_bytes = rejected.get("bytes", np.array([]))
    kept_bytes = int(np.sum(kept.get("bytes", 0)))
    rows = [("records read", records, None), ("HTML pages", pages, None)]
    left = pages
    for i, stage in enumerate(stages):
        left -= sum(n for key, n in funnel["rejected"].items() if key.split(":")[0] == stage)
        later = np.isin(stage_of, stages[i + 1:]) if len(stage_of) else np.array([], bool)
        rows.append((stage, left, kept_bytes + int(np.sum(rej_bytes[later]))))
    return rows


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _funnel_figure(rows) -> str:
    fig = Figure(figsize=(10, 0.45 * len(rows) + 1.2))
    docs_ax, bytes_ax = fig.subplots(1, 2, sharey=True)
    labels = [r[0] for r in rows][::-1]
    docs_ax.barh(labels, [r[1] for r in rows][::-1], color="#4c72b0")
    docs_ax.set_title("documents left after each stage")
    for y, r in enumerate(rows[::-1]):
        docs_ax.text(r[1], y, f" {r[1]:,}", va="center", fontsize=8)
    bytes_ax.barh(labels, [(r[2] or 0) / 1e6 for r in rows][::-1], color="#dd8452")
    bytes_ax.set_title("text MB left after each stage")
    return _png(fig)


def _reasons_figure(rejected: dict) -> str | None:
    if not rejected:
        return None
    items = sorted(rejected.items(), key=lambda kv: kv[1])[-20:]
    fig = Figure(figsize=(8, 0.35 * len(items) + 1))
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#c44e52")
    ax.set_title("rejected documents by stage:reason")
    return _png(fig)


def _signals_figure(config: dict, kept: dict, rejected: dict) -> str | None:
    shown = [s for s in MAIN_SIGNALS
             if any(v is not None for v in np.concatenate([kept.get(s[0], []), rejected.get(s[0], [])]))]
    if not shown:
        return None
    cols = 3
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (column, label, paths, log) in zip(axes, shown):
        groups = [("kept", kept, "#4c72b0"), ("rejected", rejected, "#c44e52")]
        values = {name: np.array([v for v in data.get(column, []) if v is not None and not
                                  (isinstance(v, float) and math.isnan(v))], dtype=float)
                  for name, data, _ in groups}
        every = np.concatenate(list(values.values()))
        if log:
            every = every[every > 0]
        lo, hi = (every.min(), every.max()) if len(every) else (0.0, 1.0)
        if lo == hi:
            hi = lo + 1
        bins = np.geomspace(lo, hi, 30) if log and lo > 0 else np.linspace(lo, hi, 30)
        ax.hist([values[n] for n, _, _ in groups], bins=bins, stacked=True,
                color=[c for *_, c in groups], label=[n for n, *_ in groups])
        if log:
            ax.set_xscale("log")
        for path in paths:
            threshold = threshold_at(config, path)
            if threshold is not None:
                ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
        ax.set_title(f"{label}\n{column}", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


def _table(rows, header) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(out_dir, path) -> Path:
    """Write the HTML curation report of OUT (`out_dir`) to `path`."""
    out = Path(out_dir)
    manifest = json.loads((out / MANIFEST).read_text())  # only funnel and config are needed
    config = manifest.get("config", {})
    wanted = ["stage", "reason"] + [s[0] for s in MAIN_SIGNALS]
    kept = _read(out / "documents", wanted)
    rejected = _read(out / "rejected", wanted)
    rows = funnel_rows(manifest, kept, rejected)
    funnel = manifest["funnel"]

    images = [("Funnel", _funnel_figure(rows)),
              ("Why documents were dropped", _reasons_figure(funnel["rejected"])),
              ("Quality signals (dashed: the run's thresholds)",
               _signals_figure(config, kept, rejected))]
    parts = [f"<h1>cc2gpt curation report</h1><p>{html.escape(str(out))}</p>",
             _table([(n, f"{d:,}", "" if b is None else f"{b:,}") for n, d, b in rows],
                    ["after stage", "documents", "text bytes"]),
             "<h2>Skipped records</h2>",
             _table(sorted(funnel["skipped"].items(), key=lambda kv: -kv[1]), ["reason", "records"]),
             "<h2>Rejected documents</h2>",
             _table(sorted(funnel["rejected"].items(), key=lambda kv: -kv[1]),
                    ["stage:reason", "documents"])]
    for title, png in images:
        if png:
            parts.append(f'<h2>{html.escape(title)}</h2><img src="data:image/png;base64,{png}">')
    style = ("body{font-family:sans-serif;max-width:1300px;margin:2em auto}"
             "table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>cc2gpt curation report"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)
