"""Scoring a trained model outside its training run: bits per byte on any text and accuracy
on grammatical minimal pairs; and `cc2gpt eval`, which gives both numbers for a run folder.

    cc2gpt eval RUN [--text GLOB] [--pairs GLOB] [--eval-tokens N]

Bits per byte is the trainer's validation definition (train/evaluate.py on train/data.py's
windows): the text's documents are encoded with EOS after each, cut into windows of the
model's block size, up to --eval-tokens targets spread evenly over them, and the mean
cross-entropy in bits is divided by the UTF-8 bytes those targets stand for. So a run's
`val_bpb` on shards made from some text equals `cc2gpt eval RUN --text` on that text.

A minimal pair (BLiMP's JSONL: `sentence_good`, `sentence_bad`) is right when the good
sentence gets the higher total log-probability, each sentence scored after an EOS (the
token every document follows); the accuracy is the mean over files (phenomena).
"""

import argparse
import contextlib
import glob
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from .data import ValSet, Windows, eval_windows, target_bytes
from .distributed import Dist
from .evaluate import evaluate

TEXT_SUFFIXES = (".txt", ".parquet", ".jsonl", ".jsonl.gz")


def expand(pattern: str, what: str) -> list[Path]:
    """The files a glob names (`**` recursive), sorted; a ValueError naming the glob when none."""
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise ValueError(f"{what} {pattern!r}: no file matches")
    return files


def read_txt(path: Path) -> str:
    """A text file: UTF-8, or else (older files) Windows-1252, said on stderr."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        print(f"{path}: not UTF-8, read as Windows-1252", file=sys.stderr)
        return raw.decode("cp1252", errors="replace")


def read_texts(pattern: str) -> list[str]:
    """The documents of every file the glob names: a .txt file is one document; Parquet and
    JSONL(.gz) files give one document per row of their `text` column. Other files are an
    error naming them."""
    texts = []
    for path in expand(pattern, "--text"):
        name = path.name.lower()
        if name.endswith(".txt"):
            texts.append(read_txt(path))
        elif name.endswith(".parquet"):
            table = pq.read_table(path)
            if "text" not in table.column_names:
                raise ValueError(f"{path}: no `text` column (columns: {table.column_names})")
            texts += [t for t in table.column("text").to_pylist() if t]
        elif name.endswith((".jsonl", ".jsonl.gz")):
            texts += [t for row in read_jsonl(path) if (t := row.get("text"))]
        else:
            raise ValueError(f"{path}: not a text file (expected one of {', '.join(TEXT_SUFFIXES)})")
    return texts


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = []
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not JSON: {e}") from e
        return rows


def encode_documents(tokenizer, texts: list[str]) -> np.ndarray:
    """The texts' token ids, each document followed by EOS, concatenated as one shard holds them."""
    if not texts:
        raise ValueError("no text to evaluate")
    return np.concatenate([np.asarray(ids + [tokenizer.eos_id], dtype=np.int64)
                           for ids in tokenizer.encode_batch(texts)])


def token_bpb(model, tokenizer, arrays: list[np.ndarray], max_tokens: int,
              micro_batch: int = 16) -> dict:
    """{"loss", "bpb", "tokens", "bytes"} of the model on token arrays (shards: documents
    with EOS, concatenated), evaluated exactly as the trainer evaluates its val split (up to
    max_tokens targets in windows spread evenly; 0: every window)."""
    windows = Windows(arrays, model.config.block_size)
    indices = eval_windows(windows, max_tokens)
    val = ValSet(windows, indices, target_bytes(windows, indices, tokenizer.piece_bytes()))
    out = evaluate(model, val, Dist(), micro_batch, contextlib.nullcontext())
    return {"loss": out["val_loss"], "bpb": out["val_bpb"],
            "tokens": len(indices) * windows.block_size, "bytes": val.nbytes}


@torch.no_grad()
def sentence_logprobs(model, tokenizer, sentences: list[str], batch: int = 64) -> np.ndarray:
    """Total log-probability (nats) of each sentence's tokens, each after one EOS."""
    model.eval()
    encoded = [[tokenizer.eos_id] + ids for ids in tokenizer.encode_batch(sentences)]
    limit = model.config.block_size + 1
    if max(map(len, encoded)) > limit:
        raise ValueError(f"a sentence of {max(map(len, encoded)) - 1} tokens is longer than the "
                         f"model's context ({limit - 1})")
    out = np.empty(len(encoded))
    for start in range(0, len(encoded), batch):
        rows = encoded[start:start + batch]
        width = max(map(len, rows))
        idx = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width - 1), dtype=torch.bool)
        for i, ids in enumerate(rows):
            idx[i, :len(ids)] = torch.tensor(ids)
            mask[i, :len(ids) - 1] = True
        logp = torch.log_softmax(model(idx[:, :-1]).float(), dim=-1)
        picked = logp.gather(-1, idx[:, 1:, None]).squeeze(-1)
        out[start:start + len(rows)] = (picked * mask).sum(dim=1).double().numpy()
    return out


def pair_accuracy(model, tokenizer, pattern: str) -> dict:
    """{"accuracy": mean over files of the fraction of pairs whose good sentence scores
    higher, "files": {file stem: fraction}, "pairs": pairs scored}."""
    per_file, pairs = {}, 0
    for path in expand(pattern, "--pairs"):
        rows = read_jsonl(path)
        missing = [n for n, r in enumerate(rows, 1) if not r.get("sentence_good") or not r.get("sentence_bad")]
        if not rows or missing:
            raise ValueError(f"{path}: " + (f"line {missing[0]} lacks sentence_good or sentence_bad"
                                            if missing else "no pairs"))
        scores = sentence_logprobs(model, tokenizer, [r[k] for r in rows for k in ("sentence_good", "sentence_bad")])
        per_file[path.name.split(".")[0]] = float(np.mean(scores[0::2] > scores[1::2]))
        pairs += len(rows)
    return {"accuracy": float(np.mean(list(per_file.values()))), "files": per_file, "pairs": pairs}


def score_run(run_dir, text: str | None, pairs: str | None, eval_tokens: int) -> dict:
    """Both numbers for a run folder's newest checkpoint (those asked for)."""
    from .run import load_run

    model, tokenizer, meta = load_run(run_dir)
    result = {"run": str(run_dir), "step": meta["step"]}
    if text:
        result["text"] = token_bpb(model, tokenizer, [encode_documents(tokenizer, read_texts(text))],
                                   eval_tokens)
    if pairs:
        result["pairs"] = pair_accuracy(model, tokenizer, pairs)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="cc2gpt eval", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a run folder (checkpoints/ and its tokenizer)")
    p.add_argument("--text", help="glob of .txt, Parquet or JSONL files with a text column")
    p.add_argument("--pairs", help="glob of minimal-pair JSONL(.gz) files (sentence_good, sentence_bad)")
    p.add_argument("--eval-tokens", type=int, default=131072,
                   help="targets scored on --text, spread evenly (0: all)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.text and not args.pairs:
        p.error("give --text, --pairs or both")
    try:
        result = score_run(args.run, args.text, args.pairs, args.eval_tokens)
    except ValueError as e:
        print(f"cc2gpt eval: error: {e}", file=sys.stderr)
        return 1
    if "text" in result:
        t = result["text"]
        print(f"text: {t['bpb']:.4f} bits per byte ({t['loss']:.4f} nats/token over {t['tokens']:,} "
              f"tokens, {t['bytes']:,} bytes)")
    if "pairs" in result:
        r = result["pairs"]
        print(f"pairs: {r['accuracy']:.2%} mean accuracy over {len(r['files'])} file(s), "
              f"{r['pairs']:,} pairs")
    print(json.dumps(result))
    return 0
