"""Setting a run up before any step: the checkpoint to resume, the tokenizer checksum
policy, the config as this run resolves it (model, dtype), and the run folder."""

import hashlib
import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import torch

from cc2gpt.tokenizer.manifest import tokenizer_path

from . import TrainingError
from . import distributed as dist_utils
from .checkpoint import latest_header, list_checkpoints
from .config import TrainConfig
from .mfu import measure_matmul_peak
from .run import TOKENIZER_FILES as RUN_TOKENIZER_FILES


def find_checkpoint(run_dir: Path, resume: bool, say) -> tuple[Path | None, dict | None]:
    """The newest complete checkpoint to resume from and its header (checkpoint.latest_header;
    (None, None): start at step 0); a TrainingError when run_dir already has checkpoints and
    resume is off, so no run is overwritten."""
    if not resume:
        if list_checkpoints(run_dir):
            raise TrainingError(f"{run_dir} already has checkpoints: pass --resume to continue "
                                "it, or choose another --out")
        return None, None
    found = latest_header(run_dir)
    if not found:
        say(f"no checkpoint in {run_dir}/checkpoints: starting from step 0")
        return None, None
    say(f"resuming from {found[0]}")
    return found


def sha256_file(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_tokenizer(data_dir: Path, manifest: dict, run_dir: Path, ckpt: dict | None) -> Path:
    """The data's tokenizer file, after checking it is the one the manifest (ValueError
    otherwise) and the run (TrainingError naming both checksums) were made with."""
    path = tokenizer_path(data_dir, manifest)
    actual = manifest["tokenizer"]["sha256"]
    copies = [run_dir / name for name in RUN_TOKENIZER_FILES if (run_dir / name).exists()]
    for what, sha in [(f"RUN/{c.name}", sha256_file(c)) for c in copies] + [
            ("the checkpoint", ckpt and ckpt["tokenizer_sha256"])]:
        if sha is not None and sha != actual:
            raise TrainingError(
                f"refusing {data_dir}: its shards were tokenized with tokenizer sha256 {actual}, "
                f"but {what} of run {run_dir} records {sha}; train a new run (--out) for this data")
    return path


def resolve_dtype(name: str, device: torch.device) -> str:
    """'auto': bf16 on GPUs with bf16 (else fp16); on CPU the faster of fp32 and bf16
    matmuls as measured here (bf16 is much slower than fp32 on CPUs without bf16 units)."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    fp32, bf16 = (measure_matmul_peak(t, budget_s=0.2) for t in (torch.float32, torch.bfloat16))
    return "bf16" if bf16 > fp32 else "fp32"


def resolve(cfg: TrainConfig, vocab_size: int, d: dist_utils.Dist) -> TrainConfig:
    """A copy of cfg (cfg itself is not changed) with what this run decided: the full model
    config, vocab_size padded, and the dtype, chosen by rank 0 so every process computes in
    the same precision."""
    dtype = dist_utils.broadcast_object(resolve_dtype(cfg.dtype, d.device) if d.is_main else None, d)
    return replace(cfg, model=asdict(cfg.model_config(vocab_size)), dtype=dtype)


def write_run_dir(run_dir: Path, cfg: TrainConfig, tokenizer_file: Path):
    """RUN/config.json (the resolved config, read back by --resume) and the run's tokenizer,
    checked against the data of every later resume: RUN/tokenizer.model for a sentencepiece
    model, RUN/tokenizer.json for a Hugging Face one (the name tells readers its kind)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    copy = run_dir / RUN_TOKENIZER_FILES[tokenizer_file.suffix == ".json"]
    if not any((run_dir / name).exists() for name in RUN_TOKENIZER_FILES):
        shutil.copyfile(tokenizer_file, copy)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
