"""Helpers the benchmarks share (a plain module: bench/ scripts run as files, so their folder is on sys.path)."""
import os
import random
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecordType


def read_text(path: Path) -> str:
    """A data-set text file: UTF-8, or Windows-1252 for the few older files that are not."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def shuffled_copies(warc: Path, copies: int, folder: str) -> list[str]:
    """`copies` WARC files in `folder`, each `warc`'s records (its gzip members) in a seeded order."""
    data = warc.read_bytes()
    with open(warc, "rb") as f:  # fastwarc's offsets of a .gz are those of its gzip members
        starts = [r.stream_pos for r in ArchiveIterator(
            f, record_types=WarcRecordType.any_type, parse_http=False, fsspec_args=False)]
    members = [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]
    paths = []
    for i in range(copies):
        paths.append(os.path.join(folder, f"{i}-{warc.name}"))
        with open(paths[-1], "wb") as f:
            f.writelines(random.Random(i).sample(members, len(members)))
    return paths
