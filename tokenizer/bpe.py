"""Sentencepiece BPE: training, and the `Tokenizer` wrapper over it or a Hugging Face
tokenizer.json (tokenizer.hf).

The model is lossless: identity normalization, no dummy prefix, no whitespace
collapsing and byte fallback, so decode(encode(x)) == x for any text. Ids are
fixed: 0 `<unk>` (never produced, thanks to byte fallback), 1 `<|endoftext|>`
(EOS, appended after every document), then the reserved special tokens, then
the 256 byte pieces and the learned merges.
"""
from __future__ import annotations

import hashlib
import io
from typing import Iterable

import numpy as np
import sentencepiece as spm

from cc2gpt.tokenizer.hf import TokenizerJSON, is_tokenizer_json
from cc2gpt.tokenizer.shards import dtype_for

UNK_ID = 0
EOS_ID = 1
EOS_PIECE = "<|endoftext|>"
NUM_RESERVED = 8
RESERVED_PIECES = tuple(f"<|reserved_{i}|>" for i in range(NUM_RESERVED))
_FIRST_LEARNED_ID = 2 + NUM_RESERVED + 256  # <unk>, EOS, the reserved pieces, the byte pieces
MIN_VOCAB_SIZE = _FIRST_LEARNED_ID + 1
DEFAULT_VOCAB_SIZE = 32768

# Sentencepiece writes spaces as U+2581 and decodes every U+2581 back to a
# space, so a literal U+2581 in the text would not round-trip. We encode it
# as its three UTF-8 byte pieces, which decode to U+2581 itself.
_META = "\u2581"
_META_BYTE_PIECES = tuple(f"<0x{b:02X}>" for b in _META.encode("utf-8"))


# Character coverages tried in turn when a small vocabulary cannot hold every character
# the first one asks for: the rarest characters then go through byte pieces instead.
_FALLBACK_COVERAGES = (0.999, 0.995, 0.99, 0.98)  # sentencepiece accepts 0.98 to 1


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    *,
    character_coverage: float = 0.9995,
    max_sentence_bytes: int = 1 << 16,
    num_threads: int = 2,
) -> bytes:
    """Train a BPE model on `texts` (e.g. documents) and return its proto bytes.

    `vocab_size` is an upper bound: on a sample with fewer distinct merges the
    model holds as many pieces as the sample supports (read the size used from
    `Tokenizer(proto).vocab_size`), and a vocabulary too small for every
    character `character_coverage` asks for lowers the coverage (rarer characters
    are then spelled in byte pieces) instead of failing. Texts longer than
    `max_sentence_bytes` are cut at line boundaries rather than silently skipped
    (sentencepiece drops over-long sentences). `num_threads` is a fixed number,
    not the machine's core count: the model file records it, so it must not vary
    for reruns to give identical bytes.
    """
    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocab_size={vocab_size} is too small: the special and byte pieces "
                         f"alone take {_FIRST_LEARNED_ID}; use at least {MIN_VOCAB_SIZE}")
    sentences = [chunk for text in texts for chunk in sentence_chunks(text, max_sentence_bytes)]
    coverages = (character_coverage, *(c for c in _FALLBACK_COVERAGES if c < character_coverage))
    for coverage in coverages:
        try:
            return _train(sentences, vocab_size, coverage, max_sentence_bytes, num_threads)
        except RuntimeError as e:
            if "smaller than required_chars" not in str(e):
                raise ValueError(f"sentencepiece training failed (vocab_size={vocab_size}): {e}") from e
            if coverage == coverages[-1]:
                raise ValueError(f"vocab_size={vocab_size} cannot hold this sample's characters even "
                                 f"at character coverage {coverage}: {e}; use a larger vocabulary") from e


def _train(sentences: list[str], vocab_size: int, character_coverage: float,
           max_sentence_bytes: int, num_threads: int) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        unk_id=UNK_ID,
        eos_id=EOS_ID,
        bos_id=-1,
        pad_id=-1,
        eos_piece=EOS_PIECE,
        control_symbols=list(RESERVED_PIECES),
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        character_coverage=character_coverage,
        max_sentence_length=max_sentence_bytes,
        # Deterministic: train on every sentence given, in order.
        input_sentence_size=0,
        shuffle_input_sentence=False,
        num_threads=num_threads,
        # A sample too small for vocab_size gives the largest vocabulary it supports;
        # Tokenizer.vocab_size says which.
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model.getvalue()


def sentence_chunks(text: str, max_bytes: int) -> Iterable[str]:
    """Split `text` into pieces of at most `max_bytes` UTF-8 bytes, at line ends when possible."""
    if len(text) * 4 <= max_bytes or len(text.encode("utf-8")) <= max_bytes:
        if text:
            yield text
        return
    chunk, size = [], 0
    for line in text.splitlines(keepends=True):
        n = len(line.encode("utf-8"))
        if size + n > max_bytes and chunk:
            yield "".join(chunk)
            chunk, size = [], 0
        while n > max_bytes:  # one huge line: cut by characters
            cut = max_bytes // 4
            yield line[:cut]
            line = line[cut:]
            n = len(line.encode("utf-8"))
        chunk.append(line)
        size += n
    if chunk:
        yield "".join(chunk)


class SentencePieceModel:
    """encode, decode, eos_id, vocab_size and bytes per id of a cc2gpt sentencepiece model."""

    def __init__(self, proto: bytes):
        self.sp = spm.SentencePieceProcessor(model_proto=proto)
        self.vocab_size = self.sp.get_piece_size()
        self.eos_id = self.sp.eos_id()
        if self.eos_id != EOS_ID or self.sp.id_to_piece(EOS_ID) != EOS_PIECE:
            raise ValueError(f"not a cc2gpt tokenizer: id {EOS_ID} is not {EOS_PIECE}")
        self._meta_ids = [self.sp.piece_to_id(p) for p in _META_BYTE_PIECES]

    def encode(self, text: str) -> list[int]:
        if _META in text:
            return self._encode_with_meta(text)
        return self.sp.encode(text)

    def encode_batch(self, texts: list[str], num_threads: int = -1) -> list[list[int]]:
        out = self.sp.encode(list(texts), num_threads=num_threads)
        for i, text in enumerate(texts):
            if _META in text:
                out[i] = self._encode_with_meta(text)
        return out

    def _encode_with_meta(self, text: str) -> list[int]:
        ids: list[int] = []
        for i, part in enumerate(text.split(_META)):
            if i:
                ids.extend(self._meta_ids)
            ids.extend(self.sp.encode(part))
        return ids

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)

    def id_to_piece(self, i: int) -> str:
        return self.sp.id_to_piece(int(i))

    def piece_bytes(self) -> np.ndarray:
        sizes = np.zeros(self.vocab_size, dtype=np.int64)
        for i in range(self.vocab_size):
            if self.sp.is_byte(i):
                sizes[i] = 1
            elif not (self.sp.is_control(i) or self.sp.is_unknown(i)):
                sizes[i] = len(self.id_to_piece(i).replace("\u2581", " ").encode("utf-8"))
        return sizes


class Tokenizer:
    """A BPE tokenizer plus the facts the shard format needs, over either file kind: a cc2gpt
    sentencepiece model (`tokenizer.model`) or a Hugging Face `tokenizer.json` (through the
    `tokenizers` library, tokenizer.hf), told apart by the file's bytes. The checksum is the
    file's sha256."""

    def __init__(self, data: bytes):
        self.proto = bytes(data)  # the file's bytes, whichever kind
        self.sha256 = hashlib.sha256(self.proto).hexdigest()
        if is_tokenizer_json(self.proto):
            self.impl = TokenizerJSON(self.proto)
            self.filename = "tokenizer.json"
        else:
            self.impl = SentencePieceModel(self.proto)
            self.filename = "tokenizer.model"
        self.vocab_size = self.impl.vocab_size
        self.eos_id = self.impl.eos_id
        self.dtype = dtype_for(self.vocab_size)

    @classmethod
    def from_file(cls, path) -> "Tokenizer":
        with open(path, "rb") as f:
            try:
                return cls(f.read())
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from e

    @classmethod
    def from_bytes(cls, proto: bytes) -> "Tokenizer":
        return cls(proto)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (no EOS; the shard writer appends it)."""
        return self.impl.encode(text)

    def encode_batch(self, texts: list[str], num_threads: int = -1) -> list[list[int]]:
        """Token ids of many texts in one call (C++ or Rust threads, no GIL)."""
        return self.impl.encode_batch(texts, num_threads=num_threads)

    def decode(self, ids) -> str:
        """Text of `ids` (a list or a numpy array); EOS and other special tokens decode to nothing."""
        return self.impl.decode(ids.tolist() if hasattr(ids, "tolist") else [int(i) for i in ids])

    def piece_bytes(self) -> np.ndarray:
        """UTF-8 size of each id's decoded text: 1 for byte pieces, 0 for <unk> and special
        tokens (bits per byte divide by these, summed over the target tokens)."""
        return self.impl.piece_bytes()

    def id_to_piece(self, i: int) -> str:
        return self.impl.id_to_piece(i)

    def __repr__(self) -> str:
        return f"Tokenizer({self.filename}, vocab_size={self.vocab_size}, sha256={self.sha256[:12]})"
