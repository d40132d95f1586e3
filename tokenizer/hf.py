"""A Hugging Face `tokenizer.json` behind the `Tokenizer` interface, through the `tokenizers`
library: what a model imported with `cc2gpt import-hf` (GPT-2, Llama, Qwen3) was trained with.

Text is text: special tokens written in a document (`<|endoftext|>` in a web page) are
encoded as ordinary characters, never as their special ids, and no BOS is added, exactly
like the sentencepiece tokenizer; the shard writer appends the EOS.
"""
from __future__ import annotations

import json
import re

import numpy as np

# The end-of-text token, by the name each family gives it: GPT-2 and Qwen, Llama 3, Llama 2
# and other sentencepiece-born vocabularies, Gemma; the first present is the EOS.
EOS_NAMES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>")
_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


def is_tokenizer_json(data: bytes) -> bool:
    """A tokenizer.json (a JSON object) rather than a sentencepiece model (a protobuf)."""
    return data.lstrip()[:1] == b"{"


def byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the printable character standing for each byte."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def _uses_byte_level(spec: dict) -> bool:
    decoder = spec.get("decoder") or {}
    parts = decoder.get("decoders", [decoder]) if decoder.get("type") == "Sequence" else [decoder]
    return any(d.get("type") == "ByteLevel" for d in parts)


class TokenizerJSON:
    """encode, decode, eos_id, vocab_size and bytes per id of a tokenizer.json's vocabulary."""

    def __init__(self, data: bytes):
        from tokenizers import Tokenizer as HFTokenizer

        try:
            spec = json.loads(data)
            self.tok = HFTokenizer.from_str(data.decode("utf-8"))
        except Exception as e:  # json's ValueError, or the library's bare Exception
            raise ValueError(f"not a tokenizer.json the tokenizers library reads: {e}") from e
        self.tok.encode_special_tokens = True  # "<|endoftext|>" in a text stays text
        self.byte_level = _uses_byte_level(spec)
        vocab = self.tok.get_vocab(with_added_tokens=True)
        self.vocab_size = max(vocab.values()) + 1
        self.added = self.tok.get_added_tokens_decoder()  # id -> AddedToken
        eos = [vocab[name] for name in EOS_NAMES if name in vocab]
        if not eos:
            raise ValueError(f"no end-of-text token in the vocabulary (looked for {EOS_NAMES})")
        self.eos_id = eos[0]

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str], num_threads: int = -1) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def id_to_piece(self, i: int) -> str:
        return self.tok.id_to_token(int(i)) or ""

    def piece_bytes(self) -> np.ndarray:
        """UTF-8 bytes each id stands for: special tokens 0; byte-level pieces through GPT-2's
        alphabet (exact: a text's bytes are the sum over its tokens); byte-fallback pieces
        (<0xNN>) 1; other pieces their text with U+2581 as a space."""
        sizes = np.zeros(self.vocab_size, dtype=np.int64)
        alphabet = byte_level_alphabet() if self.byte_level else {}
        for i in range(self.vocab_size):
            added = self.added.get(i)
            piece = self.tok.id_to_token(i)
            if piece is None or added is not None and added.special:
                continue
            if added is not None:  # an added plain token decodes to its content
                sizes[i] = len(added.content.encode("utf-8"))
            elif self.byte_level and all(c in alphabet for c in piece):
                sizes[i] = len(piece)
            elif _BYTE_PIECE.match(piece):
                sizes[i] = 1
            else:
                sizes[i] = len(piece.replace("\u2581", " ").encode("utf-8"))
        return sizes
