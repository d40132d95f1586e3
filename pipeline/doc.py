"""The document every stage passes on, from the URL filter to the sinks.

A `Doc` is kept while `stage` is empty; `Doc.reject` is the one way a stage
drops one, naming itself and a snake_case reason (dedup also names the kept
document it duplicates). The Parquet schemas of OUT/documents and OUT/rejected
are derived from these fields (`pipeline.sinks`). It is a plain dataclass:
Beam encodes it with its pickle fallback, a few microseconds per document.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

REJECTED = "rejected"  # the tagged output every stage sends its rejects to


def _reject_field():
    return field(default="", metadata={"reject": True})


@dataclass
class Doc:
    id: str
    url: str
    crawl_date: str
    text: str = ""
    language: str = ""
    language_score: float = 0.0
    dup_cluster_size: int = 1  # documents this one stands for (itself included) after dedup
    signals: dict[str, float] = field(default_factory=dict)  # quality signal column -> value
    stage: str = _reject_field()         # the stage that dropped the document ("" while kept)
    reason: str = _reject_field()
    duplicate_of: str = _reject_field()  # dedup: the id of the kept document

    @classmethod
    def from_page(cls, page: dict, text: str = "") -> Doc:
        """The document of a WARC page (pipeline.warc's Page dict)."""
        return cls(id=page["id"], url=page["url"], crawl_date=page["crawl_date"], text=text)

    def reject(self, stage: str, reason: str, duplicate_of: str = "") -> Doc:
        """This document as dropped by `stage` for `reason`."""
        return dataclasses.replace(self, stage=stage, reason=reason, duplicate_of=duplicate_of)

    def copy(self, **changes) -> Doc:
        """A copy with its own signals (a stage never changes the document it was given)."""
        return dataclasses.replace(self, **{"signals": dict(self.signals), **changes})


def columns(rejected: bool = False) -> list[tuple[str, str]]:
    """(name, Python type name) of Doc's Parquet columns besides the signals, in field order."""
    return [(f.name, f.type) for f in dataclasses.fields(Doc)
            if f.name != "signals" and f.metadata.get("reject", False) == rejected]
