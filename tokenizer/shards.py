"""The Arrow token-shard format: write, open zero-copy, validate.

A shard is an Arrow IPC *file* (uncompressed, so it memory-maps) holding one
record batch with columns `id: string` and `tokens: list<uint16|uint32>`; every
document's tokens end with EOS. One batch means the `tokens` values buffer is
one contiguous array: the reader hands it out as a memory-mapped numpy array
without copying, and documents are slices of it at `doc_offsets`.
`write_split_shard` and `open_split` place and find shards in OUT/ by
`tokenizer.manifest.shard_path` and the manifest.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from tokenizer.manifest import MANIFEST, read_manifest, shard_path

DTYPES = ("uint16", "uint32")
DEFAULT_VAL_FRACTION = 0.01  # share of documents (by stable id hash) in the val split


class ShardError(ValueError):
    """A shard is missing, truncated or does not match the format or the manifest."""


def stable_hash(key: str, salt: str = "") -> int:
    """A 64-bit hash of `key` that is the same on every machine and Python run."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=salt.encode()[:16]).digest()
    return int.from_bytes(digest, "big")


def split_of(doc_id: str, val_fraction: float) -> str:
    """"train" or "val" for a document, from a stable hash of its id."""
    return "val" if stable_hash(doc_id, "split") < val_fraction * 2.0**64 else "train"


def dtype_for(vocab_size: int) -> str:
    """The token dtype of a vocabulary: uint16 when every id fits, else uint32."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def schema(dtype: str) -> pa.Schema:
    if dtype not in DTYPES:
        raise ValueError(f"token dtype must be one of {DTYPES}, got {dtype!r}")
    return pa.schema([("id", pa.string()), ("tokens", pa.list_(getattr(pa, dtype)()))])


def write_shard(path, ids: list[str], token_arrays: list, dtype: str, eos_id: int | None = None) -> dict:
    """Write one shard to `path` (a local path or a writable binary file object).

    `token_arrays` are the documents' token ids, each already ending with EOS
    (checked when `eos_id` is given). Returns {num_docs, num_tokens}.
    """
    if len(ids) != len(token_arrays):
        raise ValueError(f"{len(ids)} ids but {len(token_arrays)} token arrays")
    np_dtype = np.dtype(dtype)
    lengths = np.fromiter((len(t) for t in token_arrays), dtype=np.int64, count=len(token_arrays))
    offsets = np.zeros(len(token_arrays) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError(f"shard too large: {offsets[-1]} tokens (limit 2**31 - 1)")
    values = (np.concatenate([np.asarray(t, dtype=np_dtype) for t in token_arrays])
              if token_arrays else np.zeros(0, dtype=np_dtype))
    if eos_id is not None and len(ids) and (
            (lengths == 0).any() or (values[offsets[1:] - 1] != eos_id).any()):
        raise ValueError("every document's tokens must end with EOS")
    tokens = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values))
    batch = pa.record_batch([pa.array(ids, type=pa.string()), tokens], schema=schema(dtype))
    sink = pa.OSFile(str(path), "wb") if isinstance(path, (str, os.PathLike)) else pa.PythonFile(path, mode="w")
    with sink, pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return {"num_docs": len(ids), "num_tokens": int(offsets[-1])}


def write_split_shard(out_dir, split: str, index: int, ids: list[str], token_arrays: list, dtype: str,
                      eos_id: int, create=None) -> dict:
    """Write shard `index` of `split` at OUT's `shard_path`; returns its manifest entry
    {split, path (relative to OUT), num_docs, num_tokens}.

    `create(path)` opens a writable binary file (the Beam job passes FileSystems'
    create, for gs:// and s3://); by default a local file, its folder made first.
    """
    rel = shard_path(split, index)
    if create is None:
        path = Path(out_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        info = write_shard(path, ids, token_arrays, dtype, eos_id=eos_id)
    else:
        with create(f"{out_dir}/{rel}") as f:
            info = write_shard(f, ids, token_arrays, dtype, eos_id=eos_id)
    return {"split": split, "path": rel, **info}


class Shard:
    """One opened, validated shard; `tokens` is a zero-copy view of the file."""

    def __init__(self, path, tokens: np.ndarray, doc_offsets: np.ndarray, batch: pa.RecordBatch):
        self.path = str(path)
        self.tokens = tokens
        self.doc_offsets = doc_offsets
        self.num_docs = len(doc_offsets) - 1
        self.num_tokens = len(tokens)
        self._batch = batch  # keeps the memory map alive

    @property
    def ids(self) -> list[str]:
        return self._batch.column(0).to_pylist()

    def document(self, i: int) -> np.ndarray:
        """Tokens of document `i`, EOS included."""
        return self.tokens[self.doc_offsets[i]:self.doc_offsets[i + 1]]

    def __repr__(self) -> str:
        return f"Shard({self.path!r}, num_docs={self.num_docs}, num_tokens={self.num_tokens})"


def open_shard(path, *, dtype: str, eos_id: int, vocab_size: int | None = None,
               num_docs: int | None = None, num_tokens: int | None = None, full: bool = True) -> Shard:
    """Memory-map and validate one shard; any problem raises ShardError naming `path`.

    Always checked: the file's footer and schema, dtype, document offsets, the
    counts the manifest gives and the final EOS. `full` also checks that every
    document ends with EOS and every id is below `vocab_size`; that touches
    every page of the file, so `full=False` opens a large dataset without
    reading it all first.
    """
    try:
        source = pa.memory_map(str(path), "r")
        reader = pa.ipc.open_file(source)
        if reader.num_record_batches != 1:
            raise ShardError(f"{path}: {reader.num_record_batches} record batches, expected 1")
        batch = reader.get_batch(0)
    except ShardError:
        raise
    except (OSError, pa.ArrowException) as e:
        raise ShardError(f"{path}: not a readable Arrow IPC file (missing or truncated?): {e}") from e
    if not batch.schema.equals(schema(dtype)):
        raise ShardError(f"{path}: schema {batch.schema.types} does not match expected "
                         f"{schema(dtype).types} (manifest dtype {dtype})")
    column = batch.column(1)
    if column.null_count or batch.column(0).null_count:
        raise ShardError(f"{path}: null values")
    offsets = column.offsets.to_numpy()
    tokens = column.values.to_numpy(zero_copy_only=True)
    if num_docs is not None and batch.num_rows != num_docs:
        raise ShardError(f"{path}: {batch.num_rows} documents, manifest says {num_docs}")
    if num_tokens is not None and len(tokens) != num_tokens:
        raise ShardError(f"{path}: {len(tokens)} tokens, manifest says {num_tokens}")
    if offsets[0] != 0 or offsets[-1] != len(tokens) or (np.diff(offsets) <= 0).any():
        raise ShardError(f"{path}: inconsistent document offsets")
    ends = tokens[offsets[1:] - 1] if full else tokens[-1:]
    if len(tokens) and (ends != eos_id).any():
        bad = int(np.flatnonzero(ends != eos_id)[0]) if full else batch.num_rows - 1
        raise ShardError(f"{path}: document {bad} does not end with EOS ({eos_id})")
    if full and vocab_size is not None and len(tokens) and int(tokens.max()) >= vocab_size:
        raise ShardError(f"{path}: token id {int(tokens.max())} >= vocab_size {vocab_size}")
    return Shard(path, tokens, offsets, batch)


def open_split(out_dir, split: str, manifest: dict | None = None, full: bool = True) -> list[Shard]:
    """Open and validate every shard of `split` ("train" or "val") listed in OUT's manifest (see open_shard)."""
    manifest = manifest or read_manifest(out_dir)
    tok = manifest["tokenizer"]
    if tok is None:
        return []  # the job kept nothing to tokenize: no tokenizer, no shards
    if tok["dtype"] != dtype_for(tok["vocab_size"]):
        raise ShardError(f"{Path(out_dir) / MANIFEST}: dtype {tok['dtype']} does not fit "
                         f"vocab_size {tok['vocab_size']} (expected {dtype_for(tok['vocab_size'])})")
    files = manifest["splits"].get(split, {"files": []})["files"]
    return [open_shard(Path(out_dir) / f["path"], dtype=tok["dtype"], eos_id=tok["eos_id"],
                       vocab_size=tok["vocab_size"], num_docs=f["num_docs"], num_tokens=f["num_tokens"], full=full)
            for f in files]
