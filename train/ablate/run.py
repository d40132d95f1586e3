"""Training and scoring the ablation's models: one trainer run per arm and seed, each in its
own process (`python -m cc2gpt.train.ablate.run SPEC.json`), several at once when the
cores allow.

A run is the trainer's own (train.trainer.train, resumed from its newest checkpoint when
one exists), so a killed ablation continues where each run stopped; a finished run leaves
ABL/runs/ARM/seedK/result.json, written atomically, and is not run again.
"""

import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..config import TrainConfig, apply_overrides, fit_micro_batch, load_preset

RESULT = "result.json"


def run_config(preset: str, overrides: list[str], tokens: int, seed: int, eval_points: int,
               eval_tokens: int) -> TrainConfig:
    """The preset with --set applied, trained for `tokens` tokens (whole steps, at least
    one), evaluated eval_points times (checkpointing then too) on eval_tokens targets."""
    base = apply_overrides(load_preset(preset), overrides)
    steps = max(1, math.ceil(tokens / base.get("tokens_per_step", TrainConfig.tokens_per_step)))
    every = max(1, steps // eval_points)
    base |= {"max_steps": steps, "seed": seed, "eval_interval": every, "checkpoint_interval": every,
             "eval_tokens": eval_tokens, "keep_checkpoints": 1, "tensorboard": False,
             "log_interval": every}
    return fit_micro_batch(TrainConfig.from_dict(base), 1)


def write_json(path: Path, obj):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def run_one(spec: dict) -> dict:
    """Train one arm and seed (resuming), then score it: eval bpb (the run's last validation
    on the eval text), bpb on the raw held-out slice, and pair accuracy when asked."""
    import torch

    from cc2gpt.tokenizer.shards import open_shard

    from ..run import load_run
    from ..score import pair_accuracy, token_bpb
    from ..trainer import train

    torch.set_num_threads(spec["threads"])
    cfg, run = TrainConfig.from_dict(spec["config"]), Path(spec["run"])
    start = time.perf_counter()
    record = train(cfg, spec["data"], run, resume=True)
    if record.get("stopped_by"):
        raise SystemExit(f"{run}: stopped by {record['stopped_by']}; rerun the ablation to resume")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evaluated = [m for m in metrics if "val_bpb" in m]  # the last is the final step's
    model, tokenizer, _ = load_run(run)
    heldout = open_shard(spec["heldout"], dtype=tokenizer.dtype, eos_id=tokenizer.eos_id)
    result = {
        "arm": spec["arm"], "seed": spec["seed"],
        "trained_tokens": cfg.max_steps * cfg.tokens_per_step,
        "eval_bpb": evaluated[-1]["val_bpb"],
        "raw_heldout_bpb": token_bpb(model, tokenizer, [heldout.tokens], cfg.eval_tokens)["bpb"],
        "train_seconds": metrics[-1]["elapsed_s"],
        "wall_seconds": time.perf_counter() - start,
        "curve": [[m["step"] * cfg.tokens_per_step, m["val_bpb"]] for m in evaluated],
    }
    if spec.get("pairs"):
        result["pair_accuracy"] = pair_accuracy(model, tokenizer, spec["pairs"])["accuracy"]
    write_json(run / RESULT, result)
    return result


def run_all(specs: list[dict], jobs: int, say) -> list[str]:
    """Run every spec whose result is missing, `jobs` processes at a time; the failures'
    descriptions (each run's log is RUN.log beside its folder)."""
    todo = [s for s in specs if not (Path(s["run"]) / RESULT).exists()]
    if len(todo) < len(specs):
        say(f"ablate: {len(specs) - len(todo)} of {len(specs)} runs already finished")

    def launch(spec: dict) -> str | None:
        run = Path(spec["run"])
        run.mkdir(parents=True, exist_ok=True)
        (run / "spec.json").write_text(json.dumps(spec, indent=1))
        env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"])}
        say(f"ablate: training {spec['arm']} seed {spec['seed']}")
        with open(run.with_suffix(".log"), "a") as log:
            code = subprocess.call([sys.executable, "-m", "cc2gpt.train.ablate.run", str(run / "spec.json")],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
        if code:
            return f"{spec['arm']} seed {spec['seed']}: exit status {code} (see {run.with_suffix('.log')})"
        say(f"ablate: finished {spec['arm']} seed {spec['seed']}")
        return None

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return [f for f in pool.map(launch, todo) if f]


if __name__ == "__main__":
    run_one(json.loads(Path(sys.argv[1]).read_text()))
