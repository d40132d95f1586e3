"""What every filter is, and the text helpers the filters share.

A filter is a small dataclass: its fields are its thresholds (so the config
recorded in the manifest is the filter itself), `name` is its stage name,
`signals` lists every column it writes into `doc["signals"]`, and
`filter(doc)` returns None to keep the document or a snake_case reason.
Text modifiers (C4 line cleaning, PII masking) edit `doc["text"]` in place.
"""
from __future__ import annotations

from typing import ClassVar, Iterable


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


class Filter:
    """Base of all filters; subclasses are dataclasses with threshold fields."""

    name: ClassVar[str]
    signals: ClassVar[tuple[str, ...]] = ()

    def setup(self) -> None:
        """Load what the filter needs (lists, models) once per worker, before any document."""

    def filter(self, doc: dict) -> str | None:
        raise NotImplementedError

    def record(self, doc: dict, **values: float) -> None:
        """Write signals as `<name>_<signal>` (each must be listed in `signals`)."""
        signals = doc["signals"]
        for key, value in values.items():
            signals[f"{self.name}_{key}"] = float(value)
