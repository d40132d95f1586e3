"""Extraction quality against human gold, through the same bounded extractor the job uses.

Scrapinghub AEB (90 pages): mean whitespace-token F1, at least 0.95 (plain
trafilatura's figure on this folder). trafilatura_eval (106 pages):
snippet accuracy, at least plain trafilatura's reference 0.921 minus a 0.02
margin (these are trafilatura's own development pages, so the check guards the
wiring, not a quality claim). resiliparse: F1 at least 0.92 (0.928 measured).
"""
import gzip
import json
from pathlib import Path

import pytest

from cc2gpt.pipeline.extract import ExtractConfig, token_f1
from cc2gpt.pipeline.extract_worker import ExtractFailed

GOLD = Path(__file__).resolve().parents[2] / "../shared/data/extraction_gold"


def extract_all(config, pages):
    """{key: text} for (key, html bytes, url) pages; failed pages give ""."""
    ex, out = config.extractor(), {}
    try:
        for key, html, url in pages:
            try:
                out[key] = ex(html, "", url)
            except ExtractFailed:
                out[key] = ""
    finally:
        ex.close()
    return out


def aeb_f1(config):
    gold = json.loads((GOLD / "scrapinghub_aeb/ground-truth.json").read_text())
    pages = [(k, gzip.open(GOLD / f"scrapinghub_aeb/html/{k}.html.gz").read(), v["url"])
             for k, v in sorted(gold.items())]
    texts = extract_all(config, pages)
    assert len(texts) == 90
    return sum(token_f1(texts[k], gold[k]["articleBody"])[2] for k in texts) / len(texts)


@pytest.mark.parametrize("backend,minimum", [("trafilatura", 0.95), ("resiliparse", 0.92)])
def test_scrapinghub_token_f1(backend, minimum):
    assert aeb_f1(ExtractConfig(backend=backend)) >= minimum


def test_trafilatura_eval_snippet_accuracy():
    evaldata = json.loads((GOLD / "trafilatura_eval/evaldata.json").read_text())
    pages = [(url, gzip.open(GOLD / f"trafilatura_eval/html/{v['file']}.gz").read(), url)
             for url, v in sorted(evaldata.items())]
    texts = extract_all(ExtractConfig(), pages)
    right = total = 0
    for url, v in evaldata.items():
        right += sum(s in texts[url] for s in v["with"]) + sum(s not in texts[url] for s in v["without"])
        total += len(v["with"]) + len(v["without"])
    assert total == 287 + 322
    assert right / total >= 0.921 - 0.02
