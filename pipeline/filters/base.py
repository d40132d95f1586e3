"""What every filter and rewriter is, and the text helpers the filters share.

Both are small dataclasses: their fields are their thresholds (so the config
recorded in the manifest is the step itself), `name` is the stage name a
reject carries, and `signals` lists every column the step writes into
`doc.signals`. A `Filter` only decides: `filter(doc)` returns True to keep the
document or a snake_case reason to reject it (datatrove's BaseFilter). A
`Rewriter` (pipeline.rewriters: C4 line cleaning, PII masking) only changes
the text and never rejects.
"""
from __future__ import annotations

from typing import Iterable

from pipeline.doc import Doc
from pipeline.step import Step


def find_duplicates(items: Iterable[str]) -> tuple[int, int]:
    """(number of repeated items, characters in them), first occurrences not counted."""
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_items, dup_chars


class Filter(Step):
    """Base of all filters; subclasses are dataclasses with threshold fields."""

    def filter(self, doc: Doc) -> bool | str:
        """True keeps the document; a snake_case string rejects it for that reason."""
        raise NotImplementedError
