"""`cc2gpt inspect OUT`: what the job kept, what it dropped and why, and the shards it wrote;
`cc2gpt inspect ABL`: an ablation's results table (`cc2gpt ablate`).

Everything is read back with pyarrow from OUT/ itself, the way a user would.
"""
import argparse
import textwrap
from pathlib import Path

import pyarrow.parquet as pq

from cc2gpt.tokenizer.manifest import read_manifest


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cc2gpt inspect", description=__doc__)
    p.add_argument("out", help="an output folder written by `cc2gpt curate` (or `cc2gpt ablate`)")
    p.add_argument("--samples", type=int, default=3, help="kept documents to show")
    p.add_argument("--top", type=int, default=10, help="rejection reasons to list")
    p.add_argument("--shards", action="store_true",
                   help="validate every shard and show per-split statistics and a decoded sample")
    p.add_argument("--report", metavar="FILE.html",
                   help="write an HTML curation report: funnel, signal distributions, and for each "
                        "rejection reason a few of the documents it removed beside the kept ones "
                        "nearest its threshold")
    args = p.parse_args(argv)

    results = Path(args.out) / "results.md"
    if (Path(args.out) / "results.json").exists() and results.exists():  # an ablation's folder
        print(results.read_text(), end="")
        return 0
    manifest = read_manifest(args.out)
    print(format_funnel(manifest["funnel"], args.top))
    print(format_samples(args.out, args.samples))
    if args.shards:  # validates every shard; supersedes the manifest's per-split summary
        from cc2gpt.tokenizer.inspect import describe_shards
        print(describe_shards(args.out))
    else:
        print(format_splits(manifest))
    if args.report:
        from cc2gpt.pipeline.report import write_report
        write_report(args.out, args.report)
        print(f"report written to {args.report}")
    return 0


def format_funnel(funnel: dict, top: int) -> str:
    records, kept = funnel["records"], funnel["kept"]
    skipped, rejected = funnel["skipped"], funnel["rejected"]
    lines = ["funnel",
             f"  records read  {records:>8}",
             f"  skipped       {sum(skipped.values()):>8}   (not candidate pages)",
             f"  rejected      {sum(rejected.values()):>8}",
             f"  kept          {kept:>8}   ({kept / max(records, 1):.1%} of records)",
             "skipped by reason"]
    lines += [f"  {n:>8}  {reason}" for reason, n in _most_common(skipped)]
    lines.append(f"top {top} rejection reasons (stage:reason)")
    lines += [f"  {n:>8}  {reason}" for reason, n in _most_common(rejected)[:top]]
    return "\n".join(lines)


def format_samples(out: str, n: int) -> str:
    files = sorted(Path(out, "documents").glob("*.parquet"))
    if not files or n <= 0:
        return "no sample documents"
    table = pq.read_table(files[0], columns=["id", "url", "language", "language_score", "text"])
    lines = [f"sample documents (from {files[0].name})"]
    for row in table.slice(0, n).to_pylist():
        lines.append(f"  {row['url']}  [{row['language']} {row['language_score']:.2f}]")
        snippet = " ".join(row["text"].split())[:300]
        lines += textwrap.wrap(snippet, 96, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines)


def format_splits(manifest: dict) -> str:
    tok = manifest["tokenizer"]
    if tok is None:
        return "token shards: none (no train-split document was kept, so no tokenizer was trained)"
    lines = [f"token shards (vocab {tok['vocab_size']}, {tok['dtype']}, eos {tok['eos_id']})"]
    for split, info in manifest["splits"].items():
        files = info["files"]
        docs = sum(f["num_docs"] for f in files)
        tokens = sum(f["num_tokens"] for f in files)
        lines.append(f"  {split:<5} {len(files):>4} files {docs:>9} docs {tokens:>12} tokens")
    return "\n".join(lines)


def _most_common(counts: dict) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
