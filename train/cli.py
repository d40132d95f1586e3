"""`cc2gpt train` / `python -m train`: pretrain a GPT on OUT/'s token shards.

    cc2gpt train --data OUT --preset NAME --out RUN [--max-steps N] [--max-time SECONDS]
        [--resume] [--set key=value ...]
    cc2gpt train --plan --preset NAME [--world-size N] [--data OUT] [--set key=value ...]

Under `torchrun --nproc_per_node=N -m train ...` every process runs this same command; the
global batch (tokens_per_step) stays the preset's, and the preset's micro_batch_size is
lowered if N processes need a smaller one (one given with --set is kept, or is an error).
`--plan` prints the memory each process would need (parameters, gradients, optimizer
state, activations; train/plan.py) and exits without building anything. SIGTERM or Ctrl-C writes a checkpoint after the current step and exits with status
128 + the signal's number (143, 130); `--resume` then continues the run.
"""

import argparse
import json
import signal
import sys
from pathlib import Path

from . import TrainingError
from .config import TrainConfig, apply_overrides, fit_micro_batch, load_preset
from .distributed import env_world_size


def parse_args(argv):
    p = argparse.ArgumentParser(prog="cc2gpt train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="curation output folder OUT (manifest.json, tokens/)")
    p.add_argument("--preset", help="workflows/presets/NAME.json or a JSON file (not needed "
                   "with --resume: RUN/config.json is used)")
    p.add_argument("--out", help="run folder RUN (checkpoints, metrics, config)")
    p.add_argument("--max-steps", type=int, help="total optimizer steps of the run")
    p.add_argument("--max-time", type=float, help="time budget in seconds of training steps; the "
                   "lr schedule runs on the fraction of it spent (set max_steps high enough)")
    p.add_argument("--resume", action="store_true", help="continue from RUN's newest good checkpoint")
    p.add_argument("--plan", action="store_true", help="print the memory per process and exit")
    p.add_argument("--world-size", type=int, help="processes to plan for (default: torchrun's)")
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[],
                   metavar="KEY=VALUE", help="override a config field, e.g. lr=3e-4 model.n_layer=2")
    args = p.parse_args(argv)
    if not args.plan and not (args.data and args.out):
        p.error("--data and --out are required (unless --plan)")
    return args


def resolve_config(args, world_size: int | None = None) -> TrainConfig:
    """The run's config: RUN/config.json on --resume (else the preset), then --max-steps,
    --max-time and --set. A micro_batch_size not given with --set is lowered, if need be, to
    one that splits the global batch over world_size processes (default: torchrun's)."""
    saved = Path(args.out or ".") / "config.json"
    if args.resume and args.out and saved.exists():
        base = json.loads(saved.read_text())
    elif args.preset:
        base = load_preset(args.preset)
    else:
        raise ValueError("--preset is required (unless --resume finds RUN/config.json)")
    if args.max_steps is not None:
        base["max_steps"] = args.max_steps
    if args.max_time is not None:
        base["max_time"] = args.max_time
    cfg = TrainConfig.from_dict(apply_overrides(base, args.overrides))
    if any(item.partition("=")[0] == "micro_batch_size" for item in args.overrides):
        return cfg  # the user's own: a conflict with the world size is an error, not adjusted
    return fit_micro_batch(cfg, max(1, (world_size or env_world_size()) // cfg.tp))


def plan_text(args) -> str:
    """--plan's table: the vocabulary from --data's manifest, else the model preset's."""
    from cc2gpt.model import preset
    from cc2gpt.tokenizer.manifest import read_manifest

    from .plan import format_plan, plan

    world = args.world_size or env_world_size()
    cfg = resolve_config(args, world)
    vocab = (read_manifest(args.data)["tokenizer"]["vocab_size"] if args.data
             else cfg.model.get("vocab_size") or preset(cfg.model_preset).vocab_size)
    return format_plan(*plan(cfg, world, vocab))


def main(argv=None) -> int:
    from .trainer import train

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.plan:
            print(plan_text(args))
            return 0
        cfg = resolve_config(args)
        record = train(cfg, args.data, args.out, resume=args.resume)
    except (TrainingError, ValueError) as e:
        print(f"cc2gpt train: error: {e}", file=sys.stderr)
        return 1
    if record:
        print(json.dumps(record))
    stopped_by = record.get("stopped_by") if record else None
    return 128 + signal.Signals[stopped_by].value if stopped_by else 0
