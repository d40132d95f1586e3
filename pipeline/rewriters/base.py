"""What every rewriter is: a step that returns the document's new text."""
from __future__ import annotations

from pipeline.doc import Doc
from pipeline.step import Step


class Rewriter(Step):
    """Base of all rewriters; subclasses are dataclasses with their options as fields."""

    def rewrite(self, doc: Doc) -> str:
        """The document's new text (signals may be recorded on `doc`); never rejects."""
        raise NotImplementedError
