"""Helpers: run the Dedup transform on the DirectRunner and collect its outputs."""
import pickle
import tempfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.dedup import Dedup

DATA = Path(__file__).resolve().parents[3] / "../shared/data"

def _dump(elements, path):
    import pickle
    with open(path, "wb") as f:
        pickle.dump(elements, f)


def _collect(pcoll, name, tmp):
    path = str(tmp / f"{name}.pkl")
    pcoll | f"List{name}" >> beam.combiners.ToList() | f"Dump{name}" >> beam.Map(_dump, path)
    return path


def run_dedup(docs, config, out=None):
    """(kept docs, rejected docs, PipelineResult) of Dedup over `docs`."""
    with tempfile.TemporaryDirectory() as tmp:
        p = beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"]))
        result = p | beam.Create(docs, reshuffle=False) | Dedup(config, **({"out": out} if out else {}))
        paths = [_collect(result[name], name, Path(tmp)) for name in ("kept", "rejected")]
        run = p.run()
        run.wait_until_finish()
        kept, rejected = (pickle.loads(Path(path).read_bytes()) for path in paths)
    return kept, rejected, run


def make_doc(doc_id: str, text: str) -> dict:
    return {"id": doc_id, "url": f"https://example.com/{doc_id}", "crawl_date": "2024-01-01T00:00:00Z",
            "text": text, "language": "en", "language_score": 0.99, "signals": {}}


@pytest.fixture
def dedup():
    """run_dedup(docs, config, out=None) -> (kept, rejected, PipelineResult)."""
    return run_dedup


@pytest.fixture
def doc():
    """make_doc(id, text) -> a Doc as the filter stage hands it to dedup."""
    return make_doc
