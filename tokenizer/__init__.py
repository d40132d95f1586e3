"""Sentencepiece BPE tokenizer and the Arrow token-shard format (no torch, no Beam).

This package is the contract between the curation job (which writes shards)
and the trainer (which reads them); both import it, neither imports the other.
"""
from cc2gpt.tokenizer.bpe import DEFAULT_VOCAB_SIZE, EOS_ID, EOS_PIECE, Tokenizer, train_tokenizer

__all__ = ["DEFAULT_VOCAB_SIZE", "EOS_ID", "EOS_PIECE", "Tokenizer", "train_tokenizer"]
