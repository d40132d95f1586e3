"""Helpers the benchmarks share (a plain module: bench/ scripts run as files, so their folder is on sys.path)."""
from pathlib import Path


def read_text(path: Path) -> str:
    """A data-set text file: UTF-8, or Windows-1252 for the few older files that are not."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
