"""Rewriters: steps that change a kept document's text and never reject it.

C4 line cleaning drops the lines C4's rules do not count (with the C4 filter's
thresholds); PII masking replaces e-mail and public IP addresses. A rewriter's
`rewrite(doc)` returns the new text and may record signals.
"""
from pipeline.rewriters.base import Rewriter
from pipeline.rewriters.c4 import C4LineCleaner
from pipeline.rewriters.pii import PIIMask

__all__ = ["Rewriter", "C4LineCleaner", "PIIMask"]
