"""FineWeb's own three rules (Penedo et al. 2024, section 3.3.3) plus its list-page rule.

Lines are the non-blank lines of the (C4-cleaned) text. As in datatrove, a
line ends a sentence if its last character is a Unicode sentence terminal
("." "!" "?" "。" ...; not a closing quote or "…"), and words are spaCy tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.doc import Doc
from pipeline.filters.base import Filter, find_duplicates
from pipeline.filters.text import TERMINAL_PUNCTUATION, english, split_words


@dataclass
class FineWebQuality(Filter):
    name = "fineweb"
    signals = ("fineweb_line_punct_ratio", "fineweb_short_line_ratio",
               "fineweb_char_dup_ratio", "fineweb_newline_ratio")

    line_punct_thr: float = 0.12        # keep if at least this share of lines end a sentence
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67        # drop if more than this share of lines are short
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01  # drop if duplicated lines hold this share of characters
    new_line_ratio: float = 0.3         # drop list-like pages: newlines per word

    def setup(self) -> None:
        english()

    def filter(self, doc: Doc) -> bool | str:
        text = doc.text
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return "empty"
        n = len(lines)
        s = {
            "line_punct_ratio": sum(l.endswith(TERMINAL_PUNCTUATION) for l in lines) / n,
            "short_line_ratio": sum(len(l) <= self.short_line_length for l in lines) / n,
            "char_dup_ratio": find_duplicates(lines)[1] / max(len(text.replace("\n", "")), 1),
            "newline_ratio": text.count("\n") / max(len(split_words(text)), 1),
        }
        self.record(doc, **s)
        if s["line_punct_ratio"] < self.line_punct_thr and not (
                s["line_punct_ratio"] == 0 and self.line_punct_exclude_zero):
            return "line_punct_ratio"
        if s["short_line_ratio"] > self.short_line_thr:
            return "short_line_ratio"
        if s["char_dup_ratio"] > self.char_duplicates_ratio:
            return "char_dup_ratio"
        if s["newline_ratio"] > self.new_line_ratio:
            return "list_ratio"
        return True
