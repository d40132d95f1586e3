"""The launch commands in workflows/ use options that exist: every cc2gpt curate and
train command line in the READMEs and scripts parses, Beam knows every runner
flag, and every training command's preset splits its global batch over the processes
its torchrun line starts."""
import re
import shlex
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.options import parse_args as parse_curate
from train.cli import parse_args as parse_train, resolve_config
from train.config import batch_split

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
RECIPES = sorted(WORKFLOWS.glob("*/README.md")) + [WORKFLOWS / "dataflow" / "launch.sh",
                                                    WORKFLOWS / "train" / "slurm.sbatch"]
VARS = {"PRESET": "gpt2-124m", "SLURM_NNODES": "2", "GPUS_PER_NODE": "8"}


def commands(path: Path) -> list[list[str]]:
    """Shell command lines (continuations joined, variables filled in) that run cc2gpt."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith(("cc2gpt ", "torchrun ", "srun ", "exec ")) and (
                "cc2gpt curate" in line or "-m train" in line or "cc2gpt train" in line):
            line = re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)",
                          lambda m: VARS.get(m[1] or m[3], m[2] or "x"), line)
            found.append([w for w in shlex.split(line.removeprefix("exec ")) if w != "$@"])
    return found


def processes(words: list[str]) -> int:
    """The processes a command line starts: torchrun's --nnodes x --nproc_per_node, else 1."""
    opts = dict(w.removeprefix("--").split("=", 1) for w in words if w.startswith("--n") and "=" in w)
    return int(opts.get("nnodes", 1)) * int(opts.get("nproc_per_node", 1))


def _after(words: list[str], marker: list[str]) -> list[str]:
    for i in range(len(words)):
        if words[i:i + len(marker)] == marker:
            return words[i + len(marker):]
    raise AssertionError(f"{marker} not in {words}")


def test_every_recipe_has_commands():
    assert all(commands(path) for path in RECIPES)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(WORKFLOWS)))
def test_recipe_commands_parse(path):
    for words in commands(path):
        if "curate" in words:
            _, beam_args = parse_curate(_after(words, ["cc2gpt", "curate"]))
            options = PipelineOptions(beam_args)
            unknown = set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options())
            assert not unknown, f"{path.name}: Beam does not know {sorted(unknown)}"
        else:
            argv = _after(words, ["-m", "train"] if "-m" in words else ["cc2gpt", "train"])
            args = parse_train(argv)
            args.resume = False   # resolve from the preset, not a RUN folder
            world = processes(words)
            batch_split(resolve_config(args, world_size=world), world)  # raises if it cannot split
