"""The curation report: one self-contained HTML file (PNG pictures inlined as base64).

It shows the funnel (documents and text bytes left after each stage), why
documents were dropped, how the main quality signals are distributed against
the thresholds the run used, and, for each rejection reason, a few of its
victims (URL and opening lines): where the reason's filter decides on a
numeric signal, the rejected and the kept documents nearest the threshold side
by side, so a user sees what moving it would change. All of it is read back
from OUT/ with pyarrow (manifest.json, documents/*.parquet, rejected/*.parquet).

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
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from cc2gpt.tokenizer.manifest import MANIFEST

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


# stage:reason -> (signal column, threshold location in the manifest config); gopher_repetition's
# reasons are its signals' names (`reason_signal`)
REASON_SIGNALS = {
    "language:low_language_score": ("language_score", ("language", "min_score")),
    "c4:too_few_sentences": ("c4_sentences", ("filters", "c4", "min_num_sentences")),
    **{f"gopher_quality:{reason}": (f"gopher_quality_{signal}", ("filters", "gopher_quality", param))
       for reason, signal, param in (
           ("too_few_words", "n_words", "min_doc_words"), ("too_many_words", "n_words", "max_doc_words"),
           ("short_mean_word_length", "mean_word_length", "min_avg_word_length"),
           ("long_mean_word_length", "mean_word_length", "max_avg_word_length"),
           ("too_many_hashes", "hash_ratio", "max_symbol_word_ratio"),
           ("too_many_ellipsis", "ellipsis_ratio", "max_symbol_word_ratio"),
           ("too_many_bullet_lines", "bullet_lines_ratio", "max_bullet_lines_ratio"),
           ("too_many_ellipsis_lines", "ellipsis_lines_ratio", "max_ellipsis_lines_ratio"),
           ("too_few_alpha_words", "alpha_words_ratio", "min_alpha_words_ratio"),
           ("too_few_stop_words", "stop_words", "min_stop_words"))},
    **{f"fineweb:{reason}": (f"fineweb_{signal}", ("filters", "fineweb", param))
       for reason, signal, param in (
           ("line_punct_ratio", "line_punct_ratio", "line_punct_thr"),
           ("short_line_ratio", "short_line_ratio", "short_line_thr"),
           ("char_dup_ratio", "char_dup_ratio", "char_duplicates_ratio"),
           ("list_ratio", "newline_ratio", "new_line_ratio"))},
}
SAMPLES = 3          # victims (and kept neighbours) shown per rejection reason
OPENING_CHARS = 300  # of a sample's text


def reason_signal(key: str, config: dict) -> tuple[str, float] | None:
    """(signal column, the run's threshold) a rejection reason decides on, or None."""
    stage, _, reason = key.partition(":")
    if stage == "gopher_repetition":
        params = (config.get("filters") or {}).get(stage) or {}
        ngram = re.fullmatch(r"(top|dup)_(\d+)_gram_frac", reason)
        if ngram:  # thresholds of n-gram fractions are (n, limit) pairs
            limits = dict(map(tuple, params.get(f"{ngram[1]}_n_grams", [])))
            threshold = limits.get(int(ngram[2]))
        else:
            threshold = threshold_at(config, ("filters", stage, reason))
        return None if threshold is None else (f"{stage}_{reason}", threshold)
    if key not in REASON_SIGNALS:
        return None
    column, path = REASON_SIGNALS[key]
    threshold = threshold_at(config, path)
    return None if threshold is None else (column, threshold)


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
    rows = [("records read", records, None), ("pages and text documents", pages, None)]
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
    """An HTML table; cells that are numbers (digits, commas, a point) are right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    text = str(value)
    numeric = bool(re.fullmatch(r"-?[\d,]+(\.\d+)?%?", text))
    return f"<td{' class=num' if numeric else ''}>{html.escape(text)}</td>"


def _samples(folder: Path, columns: list[str]) -> pa.Table | None:
    """id, url, the text's opening (`opening`) and the wanted columns (null where absent) of every
    Parquet file in `folder`, or None without any."""
    parts = []
    for path in sorted(folder.glob("*.parquet")):
        part = pq.ParquetFile(path)
        names = part.schema_arrow.names
        table = part.read(columns=["id", "url", "text", *(c for c in columns if c in names)])
        table = table.append_column("opening", pc.utf8_slice_codeunits(table["text"], 0, OPENING_CHARS))
        table = table.drop_columns(["text"])
        for c in columns:
            if c not in names:
                table = table.append_column(c, pa.nulls(len(table), pa.float64()))
        parts.append(table.select(["id", "url", "opening", *columns]))
    return pa.concat_tables(parts, promote_options="default") if parts else None


def _nearest(table: pa.Table, column: str, threshold: float, k: int) -> list[dict]:
    """The k rows whose `column` is nearest `threshold` (ties by id), nulls left out."""
    rows = [r for r in table.select(["id", "url", "opening", column]).to_pylist()
            if r[column] is not None and not math.isnan(r[column])]
    return sorted(rows, key=lambda r: (abs(r[column] - threshold), r["id"]))[:k]


def victims(out: Path, config: dict, reasons: dict, k: int = SAMPLES) -> list[dict]:
    """Per rejection reason (most frequent first): its count, and k rejected documents, with,
    where the reason decides on a signal, k kept documents, both nearest the threshold."""
    signals = {key: reason_signal(key, config) for key in reasons}
    columns = sorted({s[0] for s in signals.values() if s})
    rejected = _samples(out / "rejected", ["stage", "reason", *columns])
    kept = _samples(out / "documents", columns)
    sections = []
    for key, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        stage, _, reason = key.partition(":")
        mine = None if rejected is None else rejected.filter(
            pc.and_(pc.equal(rejected["stage"], stage), pc.equal(rejected["reason"], reason)))
        section = {"reason": key, "documents": n, "signal": None, "rejected": [], "kept": []}
        if signals[key] and mine is not None:
            column, threshold = signals[key]
            section.update(signal=column, threshold=threshold, rejected=_nearest(mine, column, threshold, k),
                           kept=_nearest(kept, column, threshold, k) if kept is not None else [])
        elif mine is not None:
            section["rejected"] = sorted(mine.select(["id", "url", "opening"]).to_pylist(),
                                         key=lambda r: r["id"])[:k]
        sections.append(section)
    return sections


def _sample_html(row: dict, column: str | None) -> str:
    where = html.escape(row["url"] or row["id"])
    value = f"<b>{row[column]:.4g}</b> " if column else ""
    lines = [line.strip() for line in (row["opening"] or "").splitlines() if line.strip()][:4]
    text = html.escape("\n".join(lines)) or "<i>(no text)</i>"
    return f"<div class=sample>{value}<span class=url>{where}</span><pre>{text}</pre></div>"


def _victims_html(sections: list[dict]) -> str:
    parts = []
    for s in sections:
        title = f"{s['reason']}: {s['documents']:,} documents"
        if s["signal"]:
            title += f" (signal {s['signal']}, threshold {s['threshold']:g})"
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if s["signal"]:
            heads = ("rejected, nearest the threshold", "kept, nearest the threshold")
            cells = ["".join(_sample_html(r, s["signal"]) for r in s[side]) or "<i>none</i>"
                     for side in ("rejected", "kept")]
            parts.append(f"<table class=victims><tr><th>{heads[0]}</th><th>{heads[1]}</th></tr>"
                         f"<tr><td>{cells[0]}</td><td>{cells[1]}</td></tr></table>")
        else:
            parts.append("".join(_sample_html(r, None) for r in s["rejected"]) or "<p><i>no samples</i></p>")
    return "".join(parts)


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
    parts += ["<h2>What each rejection reason removes</h2>",
              _victims_html(victims(out, config, funnel["rejected"]))]
    style = ("body{font-family:sans-serif;max-width:1300px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 10px;text-align:left;vertical-align:top}"
             "th{background:#f0f0f0}tr:nth-child(even) td{background:#fafafa}"
             "td.num{text-align:right;font-variant-numeric:tabular-nums}"
             "table.victims{table-layout:fixed;width:100%}table.victims td{width:50%}"
             ".sample{margin:0 0 .8em}.url{color:#1a5fb4;word-break:break-all}"
             "pre{white-space:pre-wrap;margin:.2em 0;font-size:85%;color:#444}")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>cc2gpt curation report"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)
