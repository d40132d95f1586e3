"""`cc2gpt ablate`: what each curation stage buys, measured by training the same model on
the data before and after it (FineWeb's method), from one curation run's OUT/.

    cc2gpt ablate --data OUT --eval GLOB --out ABL [--tokens N] [--seeds K] [--preset NAME]
        [--arms raw,...,curated] [--leave-one-out] [--eval-pairs GLOB] [--jobs J] [--set k=v ...]

Every arm (train/ablate/arms.py) gets the same tokenizer (trained on `raw`), model,
schedule and number of training tokens (an arm with fewer repeats, and the report gives
its epochs), once per seed. Each model is scored in bits per byte on the --eval text and
on a held-out slice of `raw` (in no arm's training data), and on --eval-pairs when given.
Rerunning the same command after a kill continues: finished runs are kept, unfinished
ones resume from their checkpoints.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from cc2gpt.tokenizer.manifest import read_manifest
from cc2gpt.tokenizer.shards import open_shard, write_shard

from ..score import read_texts
from .arms import build_arms, select
from .prepare import ablation_tokenizer, encode, prepare
from .report import write_results
from .run import RESULT, run_all, run_config

# Options that decide the data and the models: a rerun into the same ABL must not change them.
FIXED = ("data", "eval", "preset", "tokens", "vocab_size", "eval_tokens", "heldout", "sample_bytes",
         "eval_points", "overrides")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="cc2gpt ablate", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a curation output OUT (documents/, rejected/)")
    p.add_argument("--eval", required=True, help="glob of held-out text: .txt, Parquet or JSONL "
                   "with a text column (** recursive)")
    p.add_argument("--out", required=True, help="the ablation folder ABL")
    p.add_argument("--tokens", type=int, default=400_000, help="training tokens per run")
    p.add_argument("--seeds", type=int, default=2, help="runs per arm, seeds 0..K-1")
    p.add_argument("--preset", default="tiny", help="trainer preset (workflows/presets)")
    p.add_argument("--arms", type=lambda s: [a for a in s.split(",") if a],
                   help="comma-separated arms to train (default: all)")
    p.add_argument("--leave-one-out", action="store_true",
                   help="also the no_STAGE arms: the kept set plus one stage's rejects")
    p.add_argument("--eval-pairs", help="glob of minimal-pair JSONL(.gz) files (sentence_good/bad)")
    p.add_argument("--vocab-size", type=int, default=4096, help="the shared tokenizer's vocabulary")
    p.add_argument("--eval-tokens", type=int, default=65536,
                   help="targets scored per evaluation, spread evenly over the text (0: all)")
    p.add_argument("--eval-points", type=int, default=8, help="evaluations per run (the plot's points)")
    p.add_argument("--heldout", type=float, default=0.05, help="share of raw documents held out")
    p.add_argument("--sample-bytes", type=int, default=200_000_000,
                   help="text the tokenizer trains on at most")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--jobs", type=int, help="runs at once (default: cores // threads)")
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[],
                   metavar="KEY=VALUE", help="override a trainer config field, as `cc2gpt train --set`")
    args = p.parse_args(argv)
    if args.tokens < 1 or args.seeds < 1 or args.threads < 1 or not 0 < args.heldout < 1:
        p.error("--tokens, --seeds and --threads must be positive and --heldout in (0, 1)")
    return args


def check_options(abl: Path, options: dict):
    """ABL/options.json records the options that decide the data and models; a rerun with
    other ones is refused (adding arms or seeds is fine)."""
    path = abl / "options.json"
    if path.exists():
        before = json.loads(path.read_text())
        changed = sorted(k for k in FIXED if before.get(k) != options[k])
        if changed:
            raise ValueError(f"{abl} was made with other {', '.join(changed)} "
                             f"({', '.join(f'{k}={before.get(k)!r}' for k in changed)}); use a new --out")
    path.write_text(json.dumps(options, indent=1) + "\n")


def check_sizes(abl: Path, arm: str, heldout: Path, tok, block_size: int):
    """A ValueError before any training when the eval text or the held-out slice is too
    short for one window of the model's context."""
    val = read_manifest(abl / "data" / arm)["splits"]["val"]["files"]
    sizes = {"the --eval text": sum(f["num_tokens"] for f in val),
             "the held-out slice of raw (raise --heldout)":
                 len(open_shard(heldout, dtype=tok.dtype, eos_id=tok.eos_id).tokens)}
    for what, tokens in sizes.items():
        if tokens <= block_size:
            raise ValueError(f"{what} has {tokens} tokens, fewer than one window of {block_size + 1}")


def ablate(args, say) -> int:
    abl, data = Path(args.out), Path(args.data)
    abl.mkdir(parents=True, exist_ok=True)
    options = {k: getattr(args, k) for k in FIXED} | {"data": str(data.resolve())}
    check_options(abl, options)
    arms = build_arms(data, read_manifest(data), args.heldout, args.leave_one_out)
    names = select(arms, args.arms)
    say(f"ablate: {len(arms.docs):,} documents with text, {len(arms.heldout):,} held out; "
        f"steps {arms.steps}; arms {names}")
    tok = ablation_tokenizer(abl, arms, args.vocab_size, args.heldout, args.sample_bytes)
    stats = prepare(abl, arms, names, tok, read_texts(args.eval), say)
    configs = [run_config(args.preset, args.overrides, args.tokens, k, args.eval_points,
                          args.eval_tokens) for k in range(args.seeds)]
    heldout = abl / "data" / "heldout.arrow"
    if not heldout.exists():  # written whole or not at all, like every file a rerun reuses
        tmp = heldout.with_name("heldout.tmp")
        write_shard(tmp, [arms.docs[i].id for i in arms.heldout],
                    encode(tok, [arms.docs[i].text for i in arms.heldout]), tok.dtype, tok.eos_id)
        os.replace(tmp, heldout)
    check_sizes(abl, names[0], heldout, tok, configs[0].model_config(tok.vocab_size).block_size)
    specs = [{"arm": name, "seed": k, "data": str(abl / "data" / name),
              "run": str(abl / "runs" / name / f"seed{k}"), "heldout": str(heldout),
              "threads": args.threads, "pairs": args.eval_pairs, "config": cfg.to_dict()}
             for name in names for k, cfg in enumerate(configs)]
    failures = run_all(specs, args.jobs or max(1, (os.cpu_count() or 1) // args.threads), say)
    runs = [json.loads((Path(s["run"]) / RESULT).read_text()) for s in specs
            if (Path(s["run"]) / RESULT).exists()]
    write_results(abl, options | {"arms": names, "seeds": args.seeds}, stats, runs)
    print((abl / "results.md").read_text())
    for f in failures:
        say(f"ablate: failed: {f}")
    return 1 if failures else 0


def say(msg: str):
    """One line on stderr in one write: the runs' threads report at the same time."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return ablate(args, say)
    except ValueError as e:
        print(f"cc2gpt ablate: error: {e}", file=sys.stderr)
        return 1
