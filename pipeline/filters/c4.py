"""C4's line rules and document rules (Raffel et al. 2020, section 2.2).

Lines with a javascript mention, a cookie/policy notice, too few words or an
overlong word do not count; "lorem ipsum" or a curly brace drops the document,
as do fewer than `min_num_sentences` sentences in the lines left (counted line by
line by spaCy's sentencizer, as datatrove counts them). The filter
only decides: `pipeline.rewriters.C4LineCleaner` removes those lines from the
kept text, with this filter's thresholds. FineWeb ran
it with `filter_no_terminal_punct=False` (its own rule covers punctuation), so
that is the default here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.doc import Doc
from pipeline.filters.base import Filter
from pipeline.filters.text import count_sentences, english

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
          "use of cookies", "use cookies")


@dataclass
class C4Quality(Filter):
    name = "c4"
    signals = ("c4_lines_removed_ratio", "c4_sentences")

    remove_citations: bool = True
    filter_no_terminal_punct: bool = False
    min_num_sentences: int = 5
    min_words_per_line: int = 3
    max_word_length: int = 1000         # -1 keeps lines with any word length
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True

    def setup(self) -> None:
        english()

    def filter(self, doc: Doc) -> bool | str:
        kept, removed_ratio, sentences, verdict = self.clean_lines(doc.text)
        self.record(doc, lines_removed_ratio=removed_ratio, sentences=sentences)
        if verdict:
            return verdict
        if sentences < self.min_num_sentences:
            return "too_few_sentences"
        return True

    def clean_lines(self, text: str) -> tuple[list[str], float, int, str | None]:
        """C4's line pass: (kept lines, share of lines removed, sentences in the kept lines,
        the first document-level reason or None). The C4 line cleaner (a rewriter) keeps these lines."""
        lines = text.splitlines()
        kept, sentences, verdict = [], 0, None
        for line in lines:
            line = line.strip()
            words = line.split()
            if self.max_word_length > 0 and any(len(w) > self.max_word_length for w in words):
                continue
            if self.remove_citations:
                line = _CITATION.sub("", line)
            if self.filter_no_terminal_punct and (
                    not line.endswith(END_PUNCTUATION) or line.endswith("...")):
                continue
            if len(words) < self.min_words_per_line:
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                verdict = verdict or "lorem_ipsum"
            if self.filter_javascript and "javascript" in lower:
                continue
            if self.filter_curly_bracket and "{" in line:
                verdict = verdict or "curly_bracket"
            if self.filter_policy and any(p in lower for p in POLICY):
                continue
            sentences += count_sentences(line)
            kept.append(line)
        return kept, 1 - len(kept) / max(len(lines), 1), sentences, verdict
