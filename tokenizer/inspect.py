"""Shard statistics for `cc2gpt inspect OUT --shards`: validate every shard, then summarize.

Bytes per token is exact without decoding: decode concatenates pieces (no
dummy prefix, identity normalization), so the text's UTF-8 size is the sum of
each token's piece size, a dot product of a token histogram with a table.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cc2gpt.tokenizer.bpe import EOS_PIECE, Tokenizer
from cc2gpt.tokenizer.manifest import SPLITS, read_manifest, tokenizer_path
from cc2gpt.tokenizer.shards import open_split


def describe_shards(out_dir, window: int = 48) -> str:
    """Per split: files, documents, tokens, mean document length, bytes per token; a decoded window."""
    manifest = read_manifest(out_dir)
    tok = Tokenizer.from_file(tokenizer_path(out_dir, manifest))  # checked against the manifest's sha256
    sizes = tok.piece_bytes()
    lines = [f"token shards in {out_dir}: all valid (vocab {tok.vocab_size}, {tok.dtype}, "
             f"eos {tok.eos_id}, tokenizer sha256 {tok.sha256[:12]})",
             f"  {'split':<6}{'files':>6}{'documents':>12}{'tokens':>14}{'tokens/doc':>12}{'bytes/token':>13}"]
    samples = []
    for split in SPLITS:
        shards = open_split(out_dir, split, manifest)
        docs = sum(s.num_docs for s in shards)
        tokens = sum(s.num_tokens for s in shards)
        nbytes = sum(int(np.bincount(s.tokens, minlength=tok.vocab_size) @ sizes) for s in shards)
        # bytes per token of the text alone: EOS tokens are format, not text
        text_tokens = tokens - docs
        lines.append(f"  {split:<6}{len(shards):>6}{docs:>12,}{tokens:>14,}{tokens / max(docs, 1):>12.1f}"
                     f"{nbytes / max(text_tokens, 1):>13.3f}")
        if shards:
            samples.append(sample_window(tok, split, shards[0], window))
    return "\n".join(lines + samples)


def sample_window(tok: Tokenizer, split: str, shard, window: int) -> str:
    """`window` tokens around the first document boundary, EOS shown, so packing is visible."""
    end = int(shard.doc_offsets[1])
    lo, hi = max(0, end - window // 2), min(shard.num_tokens, end + window // 2)
    segments = [[]]
    for t in shard.tokens[lo:hi].tolist():
        if t == tok.eos_id:
            segments.append([])
        else:
            segments[-1].append(t)
    # the window's edges may cut a character's byte-fallback tokens: drop the U+FFFD they decode to
    text = EOS_PIECE.join(tok.decode(s) for s in segments).strip("\ufffd")
    name = Path(shard.path).name
    return f"sample window ({split}, {name}, tokens {lo}..{hi}):\n  {text!r}"
