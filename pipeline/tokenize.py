"""The tokenization stage: train the BPE model on a sample, then write token shards.

Both transforms are deterministic, so the same kept documents and options give
byte-identical model and shards on any runner and any number of workers:
- the training sample is the train-split documents with the smallest stable
  hash of their id, up to a byte budget (`tokenizer.sample`; a bounded,
  mergeable combine: no worker ever holds more than about twice the budget);
- a document's split and shard come from stable hashes of its id, the number
  of shards per split from its token count, and a shard's documents are sorted
  by id before writing; a split with no document gets one empty shard.

With no train-split document to train on, the model is empty bytes (b""):
nothing is written and no shard either, and the job says so.
"""
from __future__ import annotations

import math

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import CompressionTypes, FileSystems

from pipeline.doc import Doc
from pipeline.sinks import write_bytes
from tokenizer import Tokenizer, train_tokenizer
from tokenizer.manifest import SPLITS
from tokenizer.sample import Sampler, smallest_within
from tokenizer.shards import DEFAULT_VAL_FRACTION, split_of, stable_hash, write_split_shard


class TrainTokenizer(beam.PTransform):
    """PCollection[Doc] -> singleton PCollection of the trained model's bytes, also written to `out_path`.

    The bytes are b"" (and nothing is written) when no train-split document was kept.
    """

    def __init__(self, vocab_size: int, out_path: str, sample_bytes: int = 200_000_000,
                 val_fraction: float = DEFAULT_VAL_FRACTION):
        super().__init__()
        self.vocab_size, self.out_path = vocab_size, out_path
        self.sample_bytes, self.val_fraction = sample_bytes, val_fraction

    def expand(self, docs):
        return (docs
                | "SampleSmallestHashes" >> beam.CombineGlobally(
                    SmallestHashSample(self.sample_bytes, self.val_fraction))
                | "Train" >> beam.Map(_train, self.vocab_size)
                | "WriteModel" >> beam.Map(_write_model, self.out_path))


class SmallestHashSample(beam.CombineFn):
    """Docs -> the texts of `tokenizer.sample`'s bounded smallest-hash sample of the train split."""

    def __init__(self, max_bytes: int, val_fraction: float):
        self.max_bytes, self.val_fraction = max_bytes, val_fraction

    def create_accumulator(self):
        return Sampler(self.max_bytes, self.val_fraction)

    def add_input(self, sampler, doc: Doc):
        sampler.add(doc.id, doc.text)
        return sampler

    def merge_accumulators(self, samplers):
        merged = self.create_accumulator()
        merged.entries, merged.total = smallest_within(
            [e for s in samplers for e in s.entries], self.max_bytes)
        return merged

    def extract_output(self, sampler):
        return sampler.texts()


def _train(texts: list[str], vocab_size: int) -> bytes:
    return train_tokenizer(texts, vocab_size) if texts else b""


def _write_model(model: bytes, path: str) -> bytes:
    return write_bytes(model, path) if model else model


class WriteTokenShards(beam.PTransform):
    """PCollection[Doc] -> PCollection[{split, path, num_docs, num_tokens}], one per shard written.

    `model` is the tokenizer: its bytes, a PCollection holding them, or a side
    input of one (`beam.pvalue.AsSingleton`). `num_threads` is sentencepiece's
    threads per encode call: 1, since Beam already runs a worker per core
    (-1, all cores, suits a single in-memory worker). Shards go where
    `tokenizer.manifest.shard_path` puts them; `path` in the output is
    relative to `out_dir`, as the manifest lists it. An empty model (nothing to
    train on) writes no shard.
    """

    def __init__(self, out_dir: str, model, shard_tokens: int = 100_000_000, val_fraction: float = 0.01,
                 batch_chars: int = 1 << 20, num_threads: int = 1):
        super().__init__()
        self.out_dir, self.model = out_dir.rstrip("/"), model
        self.shard_tokens, self.val_fraction = shard_tokens, val_fraction
        self.batch_chars, self.num_threads = batch_chars, num_threads

    def expand(self, docs):
        model = self.model
        if isinstance(model, beam.PCollection):
            model = beam.pvalue.AsSingleton(model)
        encoded = (docs
                   # batches of about `batch_chars` of text: one sentencepiece call each, bounded memory
                   | "Batch" >> beam.BatchElements(min_batch_size=self.batch_chars, max_batch_size=self.batch_chars,
                                                   element_size_fn=lambda doc: len(doc.text))
                   | "Encode" >> beam.ParDo(EncodeFn(self.val_fraction, self.num_threads), model).with_outputs(
                       "token_counts", main="docs"))
        split_tokens = encoded.token_counts | "SumPerSplit" >> beam.CombinePerKey(sum)
        written = (encoded.docs
                   | "AssignShard" >> beam.Map(_assign_shard, self.shard_tokens,
                                               split_tokens=beam.pvalue.AsDict(split_tokens))
                   | "GroupShards" >> beam.GroupByKey()
                   | "WriteShard" >> beam.ParDo(WriteShardFn(self.out_dir), model))
        empty = (docs.pipeline
                 | "Splits" >> beam.Create(SPLITS)
                 | "EmptySplits" >> beam.ParDo(_EmptyShardFn(self.out_dir), model,
                                               split_tokens=beam.pvalue.AsDict(split_tokens)))
        return (written, empty) | "AllShards" >> beam.Flatten()


class _ModelDoFn(beam.DoFn):
    """Loads the tokenizer once per DoFn instance, on first use (the model may be a side input)."""

    def __init__(self):
        self._tok = None

    def tokenizer(self, model: bytes) -> Tokenizer:
        if self._tok is None or self._tok.proto != model:
            self._tok = Tokenizer(model)
        return self._tok


class EncodeFn(_ModelDoFn):
    """A batch of Docs -> (split, id, tokens ending with EOS as raw bytes) per document, in one sentencepiece call.

    Tokens travel as bytes, not numpy arrays: Beam encodes tuples of str and
    bytes natively, arrays only through pickle (30x slower). Tagged output
    `token_counts`: (split, tokens) per batch, for the shard count.
    """

    def __init__(self, val_fraction: float, num_threads: int = 1):
        super().__init__()
        self.val_fraction, self.num_threads = val_fraction, num_threads

    def process(self, docs, model):
        if not model:
            return
        tok = self.tokenizer(model)
        encoded = tok.encode_batch([d.text for d in docs], num_threads=self.num_threads)
        counts = {}
        for doc, ids in zip(docs, encoded):
            ids.append(tok.eos_id)
            split = split_of(doc.id, self.val_fraction)
            counts[split] = counts.get(split, 0) + len(ids)
            yield split, doc.id, np.fromiter(ids, dtype=tok.dtype, count=len(ids)).tobytes()
        for split, n in counts.items():
            yield beam.pvalue.TaggedOutput("token_counts", (split, n))


def _assign_shard(element, shard_tokens: int, split_tokens: dict):
    split, doc_id, tokens = element
    num_shards = max(1, math.ceil(split_tokens[split] / shard_tokens))
    return (split, stable_hash(doc_id, "shard") % num_shards), (doc_id, tokens)


class WriteShardFn(_ModelDoFn):
    """((split, shard), [(id, tokens)]) -> the shard file, documents sorted by id."""

    def __init__(self, out_dir: str):
        super().__init__()
        self.out_dir = out_dir

    def process(self, element, model):
        (split, shard), docs = element
        tok = self.tokenizer(model)
        docs = _sorted_by_id(docs)
        yield write_split_shard(self.out_dir, split, shard, [d[0] for d in docs],
                                [np.frombuffer(d[1], dtype=tok.dtype) for d in docs], tok.dtype,
                                tok.eos_id, create=_create)


class _EmptyShardFn(_ModelDoFn):
    """A split with no document -> its one empty shard (none when there is no model)."""

    def __init__(self, out_dir: str):
        super().__init__()
        self.out_dir = out_dir

    def process(self, split, model, split_tokens):
        if model and split not in split_tokens:
            tok = self.tokenizer(model)
            yield write_split_shard(self.out_dir, split, 0, [], [], tok.dtype, tok.eos_id, create=_create)


def _create(path: str):
    """A writable binary file through FileSystems (local, gs://, s3://)."""
    return FileSystems.create(path, mime_type="application/vnd.apache.arrow.file",
                              compression_type=CompressionTypes.UNCOMPRESSED)


def _sorted_by_id(docs):
    """Sorted by id; a repeated id is ordered by content, so bytes never depend on arrival order."""
    docs = sorted(docs, key=lambda d: d[0])
    if any(a[0] == b[0] for a, b in zip(docs, docs[1:])):
        docs.sort()
    return docs
