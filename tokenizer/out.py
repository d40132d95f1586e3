"""A whole OUT/ without Beam: the tokenizer, token shards per split and the manifest.

For tests and benchmarks that need curated output from plain (id, text)
documents; it lays OUT/ out exactly as the curation job does.
"""
from __future__ import annotations

from pathlib import Path

from cc2gpt.tokenizer.bpe import Tokenizer
from cc2gpt.tokenizer.manifest import SPLITS, build_manifest, tokenizer_relpath, write_manifest
from cc2gpt.tokenizer.shards import split_of, write_split_shard


def write_out(out_dir, model: bytes, docs: list[tuple[str, str]], val_fraction: float, *,
              shards_per_split: int = 1, config: dict | None = None) -> list[dict]:
    """OUT/ from (id, text) documents: the tokenizer `model` (either kind's file bytes), each document encoded with EOS
    into the split its id falls in (shards.split_of), shards_per_split Arrow shards per split
    (the documents dealt round-robin) and the manifest. Returns the shards' manifest entries."""
    out, tok = Path(out_dir), Tokenizer(model)
    tok_path = tokenizer_relpath(tok)
    (out / tok_path).parent.mkdir(parents=True)
    (out / tok_path).write_bytes(model)
    by_split = {s: [] for s in SPLITS}
    for doc_id, text in docs:
        by_split[split_of(doc_id, val_fraction)].append((doc_id, text))
    shards = []
    for split, part in by_split.items():
        ids = [i + [tok.eos_id] for i in tok.encode_batch([t for _, t in part])]
        for k in range(shards_per_split):
            shards.append(write_split_shard(out, split, k, [d for d, _ in part[k::shards_per_split]],
                                            ids[k::shards_per_split], tok.dtype, tok.eos_id))
    write_manifest(out, build_manifest(
        tokenizer=tok, tokenizer_path=tok_path, shards=shards,
        funnel={"records": len(docs), "kept": len(docs)}, config=config or {}))
    return shards
