"""Gopher's repetition and quality rules (Rae et al. 2021, appendix A), with
the thresholds FineWeb ran them with (datatrove's defaults), counted as
datatrove counts them: words are spaCy's English tokens (pipeline.filters.text).

All signals are computed for every document (not only up to the first failed
rule) so the rejected Parquet explains every rule, not just the first.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pipeline.doc import Doc
from pipeline.filters.base import Filter, find_duplicates
from pipeline.filters.text import PUNCTUATION, english, split_words

_PARAGRAPH = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def top_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by the most frequent n-gram (its length times its count).

    As in datatrove, an n-gram seen once counts too: a text of a few words is
    one n-gram covering most of it.
    """
    counts = Counter(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    if not counts:
        return 0
    gram, count = counts.most_common(1)[0]
    return len(gram) * count


def duplicate_ngram_chars(words: list[str], n: int) -> int:
    """Characters in n-grams that repeat an earlier n-gram (non-overlapping repeats)."""
    seen: set[str] = set()
    chars, i, last = 0, 0, len(words) - n + 1
    while i < last:
        gram = "".join(words[i:i + n])
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


TOP_NGRAMS = ((2, 0.20), (3, 0.18), (4, 0.16))
DUP_NGRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


@dataclass
class GopherRepetition(Filter):
    """Drops documents made of repeated lines, paragraphs or n-grams."""

    name = "gopher_repetition"
    signals = ("gopher_repetition_dup_para_frac", "gopher_repetition_dup_para_char_frac",
               "gopher_repetition_dup_line_frac", "gopher_repetition_dup_line_char_frac",
               *(f"gopher_repetition_top_{n}_gram_frac" for n, _ in TOP_NGRAMS),
               *(f"gopher_repetition_dup_{n}_gram_frac" for n, _ in DUP_NGRAMS))

    dup_para_frac: float = 0.3
    dup_para_char_frac: float = 0.2
    dup_line_frac: float = 0.3
    dup_line_char_frac: float = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = TOP_NGRAMS
    dup_n_grams: tuple[tuple[int, float], ...] = DUP_NGRAMS

    def setup(self) -> None:
        english()

    def filter(self, doc: Doc) -> bool | str:
        text = doc.text
        if not text:
            return "empty"
        chars = len(text)
        paragraphs = _PARAGRAPH.split(text.strip())
        lines = _LINES.split(text)
        para_dups, para_chars = find_duplicates(paragraphs)
        line_dups, line_chars = find_duplicates(lines)
        values = {"dup_para_frac": para_dups / len(paragraphs),
                  "dup_para_char_frac": para_chars / chars,
                  "dup_line_frac": line_dups / len(lines),
                  "dup_line_char_frac": line_chars / chars}
        limits = {"dup_para_frac": self.dup_para_frac,
                  "dup_para_char_frac": self.dup_para_char_frac,
                  "dup_line_frac": self.dup_line_frac,
                  "dup_line_char_frac": self.dup_line_char_frac}
        words = split_words(text)
        for n, limit in self.top_n_grams:
            values[f"top_{n}_gram_frac"] = top_ngram_chars(words, n) / chars
            limits[f"top_{n}_gram_frac"] = limit
        for n, limit in self.dup_n_grams:
            values[f"dup_{n}_gram_frac"] = duplicate_ngram_chars(words, n) / chars
            limits[f"dup_{n}_gram_frac"] = limit
        self.record(doc, **values)
        for key, limit in limits.items():
            if values[key] > limit:
                return key
        return True


STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


@dataclass
class GopherQuality(Filter):
    """Drops documents that do not look like prose: length, word shape, symbols, stop words.

    A word is a token with a character that is not punctuation; the hash,
    ellipsis and alphabetic ratios are per token, punctuation marks included;
    `stop_words` counts the distinct stop words present, matched case-sensitively.
    """

    name = "gopher_quality"
    signals = ("gopher_quality_n_words", "gopher_quality_mean_word_length",
               "gopher_quality_hash_ratio", "gopher_quality_ellipsis_ratio",
               "gopher_quality_bullet_lines_ratio", "gopher_quality_ellipsis_lines_ratio",
               "gopher_quality_alpha_words_ratio", "gopher_quality_stop_words")

    min_doc_words: int = 50
    max_doc_words: int = 100_000
    min_avg_word_length: float = 3.0
    max_avg_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2
    stop_words: tuple[str, ...] = STOP_WORDS

    def setup(self) -> None:
        english()

    def filter(self, doc: Doc) -> bool | str:
        text = doc.text
        tokens = split_words(text)
        n_tokens = max(len(tokens), 1)
        words = [w for w in tokens if not PUNCTUATION.issuperset(w)]
        lines = text.splitlines() or [""]
        s = {
            "n_words": len(words),
            "mean_word_length": sum(map(len, words)) / len(words) if words else 0.0,
            "hash_ratio": text.count("#") / n_tokens,
            "ellipsis_ratio": (text.count("...") + text.count("…")) / n_tokens,
            "bullet_lines_ratio": sum(l.lstrip().startswith(("•", "-")) for l in lines) / len(lines),
            "ellipsis_lines_ratio": sum(l.rstrip().endswith(("...", "…")) for l in lines) / len(lines),
            "alpha_words_ratio": sum(any(map(str.isalpha, w)) for w in tokens) / n_tokens,
            "stop_words": len(set(self.stop_words).intersection(tokens)),
        }
        self.record(doc, **s)
        if s["n_words"] < self.min_doc_words:
            return "too_few_words"
        if s["n_words"] > self.max_doc_words:
            return "too_many_words"
        if s["mean_word_length"] < self.min_avg_word_length:
            return "short_mean_word_length"
        if s["mean_word_length"] > self.max_avg_word_length:
            return "long_mean_word_length"
        if s["hash_ratio"] > self.max_symbol_word_ratio:
            return "too_many_hashes"
        if s["ellipsis_ratio"] > self.max_symbol_word_ratio:
            return "too_many_ellipsis"
        if s["bullet_lines_ratio"] > self.max_bullet_lines_ratio:
            return "too_many_bullet_lines"
        if s["ellipsis_lines_ratio"] > self.max_ellipsis_lines_ratio:
            return "too_many_ellipsis_lines"
        if s["alpha_words_ratio"] < self.min_alpha_words_ratio:
            return "too_few_alpha_words"
        if s["stop_words"] < self.min_stop_words:
            return "too_few_stop_words"
        return True
