"""Helpers the benchmarks share (a plain module: bench/ scripts run as files, so their folder is on sys.path)."""
import os
import random
import subprocess
import sys
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


LM_CORPUS = Path(__file__).resolve().parents[1] / "../shared/data/lm_corpus"
VAL_FRACTION = 0.1


def lm_corpus_out(out: Path, vocab_size: int, corpus: Path = LM_CORPUS) -> dict:
    """OUT/ from every .txt file of lm_corpus through `cc2gpt curate`'s text path (README,
    Text datasets: ~8 KB documents cut at paragraph breaks, no web-page filters, dedup, a
    tenth held back as val by id hash, the tokenizer trained on the train split); per split
    (documents, bytes, tokens)."""
    import pyarrow.dataset as ds
    import pyarrow.ipc as ipc

    subprocess.run([sys.executable, "-m", "cc2gpt.pipeline", "--input", f"{corpus.resolve()}/*/*.txt",
                    "--output", str(out), "--no-filter", "all", "--vocab-size", str(vocab_size),
                    "--val-fraction", str(VAL_FRACTION)], check=True, stdout=subprocess.DEVNULL)
    docs = ds.dataset(out / "documents", format="parquet").to_table(columns=["id", "text"])
    nbytes = dict(zip(docs["id"].to_pylist(), (len(t.encode()) for t in docs["text"].to_pylist())))
    splits = {}
    for split in ("train", "val"):
        tables = [ipc.open_file(f).read_all() for f in sorted((out / "tokens" / split).glob("*.arrow"))]
        ids = [i for t in tables for i in t["id"].to_pylist()]
        splits[split] = (len(ids), sum(nbytes[i] for i in ids),
                         sum(len(c.flatten()) for t in tables for c in t["tokens"].chunks))
    return splits
