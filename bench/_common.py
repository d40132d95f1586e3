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


LM_CORPUS = Path(__file__).resolve().parents[1] / "../shared/data/lm_corpus"
VAL_FRACTION = 0.1


def lm_corpus_out(out: Path, vocab_size: int, corpus: Path = LM_CORPUS) -> dict:
    """OUT/ from every .txt file of lm_corpus through cc2gpt's own path; per split
    (documents, bytes, tokens).

    Each file is decoded (UTF-8, else Windows-1252), line endings normalised to \\n, and cut
    at line boundaries into documents of about 8 KB named `file#k`; split_of(name, 0.1)
    holds back a deterministic tenth (spread over all files) as val. The BPE tokenizer is
    trained on the train documents only; one shard per split and a manifest are written."""
    from cc2gpt.tokenizer import train_tokenizer
    from cc2gpt.tokenizer.out import write_out
    from cc2gpt.tokenizer.shards import split_of

    docs = []
    for path in sorted(corpus.rglob("*.txt")):
        lines, size, k = [], 0, 0
        text = read_text(path).replace("\r\n", "\n").replace("\r", "\n")
        for line in text.splitlines(keepends=True):
            lines.append(line)
            size += len(line)
            if size >= 8192:
                docs.append((f"{path.relative_to(corpus)}#{k}", "".join(lines)))
                lines, size, k = [], 0, k + 1
        if lines:
            docs.append((f"{path.relative_to(corpus)}#{k}", "".join(lines)))
    split = {name: split_of(name, VAL_FRACTION) for name, _ in docs}
    model = train_tokenizer([t for n, t in docs if split[n] == "train"], vocab_size=vocab_size)
    shards = write_out(out, model, docs, VAL_FRACTION, config={
        "source": "lm_corpus", "val_fraction": VAL_FRACTION, "vocab_size": vocab_size})
    return {s["split"]: (s["num_docs"], sum(len(t.encode("utf-8")) for n, t in docs
                                            if split[n] == s["split"]), s["num_tokens"])
            for s in shards}
