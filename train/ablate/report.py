"""An ablation's results: ABL/results.json (every arm and seed), ABL/results.md (mean ±
standard deviation per arm, the difference to `raw`, and whether it exceeds twice the
seeds' spread) and ABL/ablation.png (eval bits per byte against training tokens, one line
per arm, the seeds' range shaded)."""

import json
from pathlib import Path

import numpy as np

from .arms import RAW

METRICS = (("eval_bpb", "eval bpb"), ("raw_heldout_bpb", "raw held-out bpb"),
           ("pair_accuracy", "pair accuracy"))


def summarize(values: list[float]) -> tuple[float, float | None]:
    """(mean, sample standard deviation; None for one value)."""
    return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def arm_summary(runs: list[dict], arm: dict) -> dict:
    """Mean and standard deviation of every metric the arm's runs have, and its epochs."""
    out = {"seeds": len(runs), **arm,
           "epochs": runs[0]["trained_tokens"] / arm["tokens"] if runs and arm["tokens"] else None}
    for key, _ in METRICS:
        values = [r[key] for r in runs if key in r]
        if values:
            out[key] = dict(zip(("mean", "std"), summarize(values)))
    return out


def difference(arm: dict, raw: dict, key: str) -> tuple[float, bool | None] | None:
    """(arm mean - raw mean, whether |difference| > 2 x the larger of the two seed standard
    deviations; None with one seed), or None when either lacks the metric."""
    if key not in arm or key not in raw:
        return None
    diff = arm[key]["mean"] - raw[key]["mean"]
    stds = [arm[key]["std"], raw[key]["std"]]
    return diff, (None if None in stds else abs(diff) > 2 * max(stds))


def write_results(abl: Path, config: dict, stats: dict[str, dict], runs: list[dict]) -> dict:
    """ABL/results.json, results.md and ablation.png from the finished runs; the summary."""
    arms = {name: arm_summary([r for r in runs if r["arm"] == name], stat)
            for name, stat in stats.items()}
    results = {"config": config, "arms": arms, "runs": runs}
    (abl / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (abl / "results.md").write_text(markdown(results))
    plot(abl / "ablation.png", arms, runs)
    return results


def fmt(m: dict | None, digits: int = 3) -> str:
    if not m:
        return "–"
    return f"{m['mean']:.{digits}f}" + (f" ± {m['std']:.{digits}f}" if m["std"] is not None else "")


def fmt_diff(d, digits: int = 3) -> str:
    if d is None:
        return "–"
    mark = {True: " (beyond 2σ)", False: " (within 2σ)", None: ""}[d[1]]
    return f"{d[0]:+.{digits}f}{mark}"


def markdown(results: dict) -> str:
    """The results table: one row per arm."""
    cfg, arms = results["config"], results["arms"]
    raw = arms.get(RAW, {})
    keys = [(k, label) for k, label in METRICS if any(k in a for a in arms.values())]
    head = ["arm", "docs", "tokens", "epochs", "seeds"]
    for key, label in keys:
        head += [label, "Δ vs raw"]
    lines = [f"# Data ablation of {cfg['data']}", "",
             f"{cfg['preset']} preset, {cfg['tokens']:,} training tokens per run, tokenizer of "
             f"{cfg['vocab_size']} pieces trained on the raw arm; eval text {cfg['eval']} "
             f"({cfg['eval_tokens']:,} tokens scored). Mean ± sample standard deviation over seeds; "
             "a difference is \"beyond 2σ\" when it exceeds twice the larger seed standard deviation "
             "of the two arms.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, a in arms.items():
        row = [name, f"{a['documents']:,}", f"{a['tokens']:,}",
               f"{a['epochs']:.2f}" if a["epochs"] is not None else "–", str(a["seeds"])]
        for key, _ in keys:
            digits = 4 if key == "pair_accuracy" else 3
            row += [fmt(a.get(key), digits), "" if name == RAW else fmt_diff(difference(a, raw, key), digits)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot(path: Path, arms: dict, runs: list[dict]):
    """Eval bpb against training tokens: each arm's mean over seeds, the seeds' range shaded."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for name in arms:
        curves = [r["curve"] for r in runs if r["arm"] == name]
        if not curves:
            continue
        n = min(map(len, curves))
        x = np.array([p[0] for p in curves[0][:n]])
        y = np.array([[p[1] for p in c[:n]] for c in curves])
        line, = ax.plot(x, y.mean(axis=0), label=name)
        if len(curves) > 1:
            ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=line.get_color(), alpha=0.2)
    ax.set(xlabel="training tokens", ylabel="eval bits per byte", title="data ablation")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
