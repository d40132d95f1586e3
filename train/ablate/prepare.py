"""An ablation's data: one tokenizer for every arm, and each arm as an OUT/ folder the
trainer reads unchanged (tokenizer, token shards, manifest).

The tokenizer is trained on the `raw` arm's text (the held-out slice excluded, as the job
leaves its val split out of the sample), so no arm is favoured by its vocabulary. Each
arm's OUT/ has the arm's documents as its train split and the --eval text as its val
split, so the trainer's periodic validation is the eval curve. Every folder is written
under a temporary name and renamed into place, so an interrupted ablation never finds
half an arm.
"""

import os
import shutil
from pathlib import Path

import numpy as np

from cc2gpt.tokenizer import Tokenizer, train_tokenizer
from cc2gpt.tokenizer.manifest import build_manifest, read_manifest, tokenizer_relpath, write_manifest
from cc2gpt.tokenizer.sample import Sampler
from cc2gpt.tokenizer.shards import write_split_shard

from .arms import Arms

SHARD_TOKENS = 1 << 26  # tokens per shard at most (far below the format's 2**31 limit)


def write_atomic(path: Path, data: bytes):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def ablation_tokenizer(abl: Path, arms: Arms, vocab_size: int, heldout_fraction: float,
                       sample_bytes: int) -> Tokenizer:
    """ABL/tokenizer.model, trained on the raw arm once (a rerun reads it back)."""
    path = abl / "tokenizer.model"
    if not path.exists():
        sampler = Sampler(sample_bytes, heldout_fraction)  # passes the held-out slice over
        for doc in arms.docs:
            sampler.add(doc.id, doc.text)
        write_atomic(path, train_tokenizer(sampler.texts(), vocab_size))
    return Tokenizer.from_file(path)


def encode(tok: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    """Each text's ids followed by EOS, in the shards' dtype."""
    return [np.asarray(ids + [tok.eos_id], dtype=tok.dtype) for ids in tok.encode_batch(texts)]


def write_arm(folder: Path, tok: Tokenizer, tok_file: Path, ids: list[str],
              arrays: list[np.ndarray], eval_arrays: list[np.ndarray], config: dict) -> dict:
    """OUT/ at `folder` (atomically): train split = the arm's documents, val split = the
    eval text; returns the manifest."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    rel = tokenizer_relpath(tok)
    (tmp / rel).parent.mkdir(parents=True)
    shutil.copyfile(tok_file, tmp / rel)
    shards = [write_split_shard(tmp, "train", k, ids[a:b], arrays[a:b], tok.dtype, tok.eos_id)
              for k, (a, b) in enumerate(chunks(arrays))]
    shards.append(write_split_shard(tmp, "val", 0, [f"eval-{i}" for i in range(len(eval_arrays))],
                                    eval_arrays, tok.dtype, tok.eos_id))
    manifest = build_manifest(tokenizer=tok, tokenizer_path=rel, shards=shards,
                              funnel={"records": len(ids), "kept": len(ids)}, config=config)
    write_manifest(tmp, manifest)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return manifest


def chunks(arrays: list[np.ndarray]) -> list[tuple[int, int]]:
    """[start, end) ranges of consecutive documents holding at most SHARD_TOKENS tokens each
    (a longer document alone)."""
    ranges, start, size = [], 0, 0
    for i, a in enumerate(arrays):
        if size and size + len(a) > SHARD_TOKENS:
            ranges.append((start, i))
            start, size = i, 0
        size += len(a)
    return ranges + [(start, len(arrays))]


def prepare(abl: Path, arms: Arms, names: list[str], tok: Tokenizer, eval_texts: list[str],
            say) -> dict[str, dict]:
    """ABL/data/ARM/ for every arm in `names` that is not there yet; returns each arm's
    {documents, tokens, bytes} (tokens with EOS)."""
    data = abl / "data"
    data.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if not (data / n / "manifest.json").exists()]
    if missing:
        say(f"ablate: encoding {len(arms.docs):,} documents and {len(eval_texts):,} eval texts")
        encoded = encode(tok, [d.text for d in arms.docs])
        eval_arrays = encode(tok, eval_texts)
        for name in missing:
            idx = arms.members[name]
            write_arm(data / name, tok, abl / "tokenizer.model", [arms.docs[i].id for i in idx],
                      [encoded[i] for i in idx], eval_arrays, {"ablation_arm": name})
            say(f"ablate: wrote {data / name}")
    stats = {}
    for name in names:
        idx = arms.members[name]
        train = read_manifest(data / name)["splits"]["train"]["files"]
        stats[name] = {"documents": len(idx), "tokens": sum(f["num_tokens"] for f in train),
                       "bytes": sum(len(arms.docs[i].text.encode("utf-8")) for i in idx)}
    return stats

