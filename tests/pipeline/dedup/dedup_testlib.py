"""Test helpers for dedup: run it on the DirectRunner, real documents, brute-force references."""
import pickle
import re
import tempfile
from collections import defaultdict
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.dedup import Dedup
from pipeline.dedup.normalize import shingles, text_hash
from pipeline.doc import Doc

DATA = Path(__file__).resolve().parents[3] / "../shared/data"


def _dump(elements, path):
    import pickle
    with open(path, "wb") as f:
        pickle.dump(elements, f)


def collect(pcoll, name: str, tmp: Path) -> Path:
    """Write a PCollection's elements to one pickle file when the pipeline runs."""
    path = tmp / f"{name}.pkl"
    pcoll | f"List{name}" >> beam.combiners.ToList() | f"Dump{name}" >> beam.Map(_dump, str(path))
    return path


def run_pipeline(build):
    """Run build(pipeline, tmp) -> {name: PCollection}; returns ({name: elements}, PipelineResult)."""
    with tempfile.TemporaryDirectory() as tmp:
        p = beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"]))
        paths = {name: collect(pcoll, name, Path(tmp)) for name, pcoll in build(p).items()}
        result = p.run()
        result.wait_until_finish()
        return {name: pickle.loads(path.read_bytes()) for name, path in paths.items()}, result


def run_dedup(docs, config, out=None):
    """(kept docs, rejected docs, PipelineResult) of Dedup over `docs`."""
    def build(p):
        result = p | beam.Create(docs, reshuffle=False) | Dedup(config, out)
        return {"kept": result["kept"], "rejected": result["rejected"]}
    outputs, result = run_pipeline(build)
    return outputs["kept"], outputs["rejected"], result


def make_doc(doc_id: str, text: str) -> Doc:
    return Doc(id=doc_id, url=f"https://example.com/{doc_id}", crawl_date="2024-01-01T00:00:00Z",
               text=text, language="en", language_score=0.99)


def read_text(path: Path) -> str:
    """The data sets mix UTF-8 and Windows-1252 files and line endings."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n")


def paragraphs(text: str, min_words: int) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if len(p.split()) >= min_words]


def jaccard(a: str, b: str, n: int = 5) -> float:
    """Exact Jaccard similarity of two texts' word n-gram sets."""
    sa, sb = set(shingles(a, n)), set(shingles(b, n))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def similar_pairs(docs: list[Doc], n: int = 5) -> dict[tuple[str, str], float]:
    """Exact Jaccard of every pair of docs sharing at least one shingle (every other pair has 0).

    Brute force made affordable by an inverted index; no MinHash involved.
    """
    sets = {d.id: set(shingles(d.text, n)) for d in docs}
    index = defaultdict(list)
    for doc_id, grams in sets.items():
        for g in grams:
            index[g].append(doc_id)
    pairs = {tuple(sorted((a, b))) for ids in index.values() for i, a in enumerate(ids) for b in ids[i + 1:]}
    return {(a, b): len(sets[a] & sets[b]) / len(sets[a] | sets[b]) for a, b in pairs}


class UnionFind:
    """Plain single-machine union-find, the reference the Beam components are checked against."""

    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)   # the root is always the smallest id


def exact_groups(docs: list[Doc]) -> dict[str, list[str]]:
    """Reference exact dedup: smallest id of each normalized-text group -> the group's ids."""
    by_hash = defaultdict(list)
    for d in docs:
        by_hash[text_hash(d.text)].append(d.id)
    return {min(ids): ids for ids in by_hash.values()}
