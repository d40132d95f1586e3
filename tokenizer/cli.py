"""`cc2gpt tokenizer train`: train the BPE model on a folder of kept documents (Parquet).

It samples exactly as the curation job does (train-split documents only, the
smallest stable id hashes within `--sample-bytes`), so on the same documents
and options it writes the same model, byte for byte, as the job's
OUT/tokenizer/tokenizer.model.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tokenizer.bpe import DEFAULT_VOCAB_SIZE, Tokenizer, train_tokenizer
from tokenizer.sample import Sampler
from tokenizer.shards import DEFAULT_VAL_FRACTION

DEFAULT_SAMPLE_BYTES = 200_000_000


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cc2gpt tokenizer", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a sentencepiece BPE model on Parquet documents")
    t.add_argument("--input", required=True, help="a Parquet file or a folder of them (e.g. OUT/documents)")
    t.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)
    t.add_argument("--output", required=True, help="where to write the model (e.g. tokenizer.model)")
    t.add_argument("--sample-bytes", type=int, default=DEFAULT_SAMPLE_BYTES,
                   help="train on the documents with the smallest id hashes up to this many bytes of text")
    t.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION,
                   help="the curation job's --val-fraction: its val-split documents are left out")
    args = p.parse_args(argv)

    files = parquet_files(args.input)
    sampler, docs = Sampler(args.sample_bytes, args.val_fraction), 0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=["id", "text"]):
            for doc_id, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                sampler.add(doc_id, text)
                docs += 1
    texts = sampler.texts()
    if not texts:
        p.error(f"no train-split documents in {args.input}")
    proto = train_tokenizer(texts, args.vocab_size)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(proto)
    tok = Tokenizer(proto)
    print(f"cc2gpt tokenizer: trained on {len(texts)} of {docs} documents "
          f"({sum(len(t.encode()) for t in texts):,} bytes) from {len(files)} files; "
          f"wrote {out} (vocab {tok.vocab_size}, sha256 {tok.sha256})", file=sys.stderr)
    return 0


def parquet_files(path: str) -> list[Path]:
    p = Path(path)
    files = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise SystemExit(f"cc2gpt tokenizer: no Parquet files at {path}")
    return files
