"""What filters and rewriters share: a name, declared signals, a per-worker setup."""
from __future__ import annotations

from typing import ClassVar

from pipeline.doc import Doc


class Step:
    """Base of `pipeline.filters.Filter` and `pipeline.rewriters.Rewriter`."""

    name: ClassVar[str]
    signals: ClassVar[tuple[str, ...]] = ()

    def setup(self) -> None:
        """Load what the step needs (lists, models) once per worker, before any document."""

    def record(self, doc: Doc, **values: float) -> None:
        """Write signals as `<name>_<signal>` (each must be listed in `signals`)."""
        for key, value in values.items():
            doc.signals[f"{self.name}_{key}"] = float(value)
