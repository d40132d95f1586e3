"""C4 line cleaning: the kept document's text becomes the lines C4's rules count."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.doc import Doc
from pipeline.filters.c4 import C4Quality
from pipeline.rewriters.base import Rewriter


@dataclass
class C4LineCleaner(Rewriter):
    """Applies `C4Quality.clean_lines` with that filter's thresholds (built from it, not configured apart)."""

    name = "c4_lines"

    quality: C4Quality

    def rewrite(self, doc: Doc) -> str:
        return "\n".join(self.quality.clean_lines(doc.text)[0]).strip()
