"""Text datasets as curation input: Parquet, JSONL, .txt and WET files read into Docs.

Real text from ../shared/data/lm_corpus; the end-to-end test curates the same
documents as .txt, Parquet and JSONL in one Beam pipeline and compares the shards.
"""
import gzip
import io
import json
import re
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.util import assert_that, equal_to
from warcio.warcwriter import WARCWriter

from cc2gpt.pipeline.cli import new_pipeline
from cc2gpt.pipeline.curate import Curate
from cc2gpt.pipeline.doc import Doc
from cc2gpt.pipeline.options import parse_args
from cc2gpt.pipeline.text_input import (read_jsonl, read_parquet, read_wet, split_text, text_format,
                                        text_splits, txt_documents)
from cc2gpt.pipeline.read import ReadWarc
from cc2gpt.pipeline.warc import iter_warc

CORPUS = Path(__file__).resolve().parents[2] / "../shared/data/lm_corpus"
BOOKS = [CORPUS / "gutenberg/blake-poems.txt", CORPUS / "state_union/1948-Truman.txt"]
WARC = Path(__file__).resolve().parents[2] / "../shared/data/warc/dolma_wget_sample-0000.warc.gz"


def write_wet(path: Path, texts: list[str]) -> Path:
    """A WET file as Common Crawl writes it: a warcinfo record, then one conversion record per text."""
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for i, text in enumerate(texts):
            writer.write_record(writer.create_warc_record(
                f"https://example.org/{i}", "conversion", payload=io.BytesIO(text.encode("utf-8")),
                warc_headers_dict={"Content-Type": "text/plain"}))
    return path


def test_formats_come_from_file_names():
    assert [text_format(n) for n in ("a.parquet", "a.jsonl", "a.JSONL.gz", "b.txt", "CC.warc.wet.gz",
                                     "x.wet", "x.warc.gz", "x.warc")] == [
        "parquet", "jsonl", "jsonl", "txt", "wet", "wet", None, None]


def test_txt_is_cut_at_paragraphs_then_lines_and_joins_back():
    for book in BOOKS:
        (text,) = [t for _, t in txt_documents("x", book.read_bytes(), 0)]
        pieces = split_text(text, 8192)
        assert "".join(pieces) == text and len(pieces) > 2 and "\r" not in text
        assert all(len(p) >= 8192 for p in pieces[:-1]) and all(p.endswith("\n") for p in pieces[:-1])
        if book.name == "blake-poems.txt":  # poems: every piece ends at a blank line
            assert all(re.search(r"\n[ \t]*\n$", p) for p in pieces[:-1])
        assert max(map(len, pieces)) < 3 * 8192 and len(pieces[-1].strip()) >= 8192 // 4  # no stub tail
    docs = txt_documents("b.txt", BOOKS[0].read_bytes())
    assert docs[0][0] == "b.txt#0" and docs[-1][0] == f"b.txt#{len(docs) - 1}"
    assert txt_documents("s.txt", b"one short file\r\n") == [("s.txt", "one short file\n")]
    assert txt_documents("w.txt", "caf\xe9".encode("cp1252")) == [("w.txt", "café")]


def test_jsonl_rows_bad_lines_and_ranges_at_line_boundaries():
    lines = [json.dumps({"text": "first", "id": "a", "url": "https://x.org/1"}), "{not json",
             json.dumps(["a list"]), json.dumps({"body": "no text"}), json.dumps({"text": 7}),
             json.dumps({"text": "  "}), "", json.dumps({"text": "second"})]
    data = ("\n".join(lines) + "\n").encode()
    whole = list(read_jsonl(io.BytesIO(data), "f.jsonl"))
    assert whole[1:6] == ["bad_json", "bad_json", "no_text", "bad_json", "empty_text"]
    assert (whole[0].id, whole[0].url, whole[0].text) == ("a", "https://x.org/1", "first")
    offset = data.index(lines[-1].encode())
    assert whole[6].text == "second" and whole[6].id == f"f.jsonl@{offset}"
    for cut in range(1, len(data)):  # any two ranges read every line once
        parts = list(read_jsonl(io.BytesIO(data), "f.jsonl", 0, cut))
        parts += list(read_jsonl(io.BytesIO(data), "f.jsonl", cut, len(data)))
        assert parts == whole, cut


def test_parquet_row_groups_ids_and_a_missing_text_column(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a b c", None, "d e f", "g h"], "url": ["u0", None, "u2", "u3"]}),
                   path, row_group_size=2)
    (meta,) = FileSystems.match([str(path)])[0].metadata_list
    splits = list(text_splits(meta, range_bytes=1))
    assert splits == [(str(path), 0, 1), (str(path), 1, 2)]
    items = [i for _, a, b in splits for i in read_parquet(open(path, "rb"), str(path), a, b)]
    assert items[1] == "empty_text" and [d.id for d in items if isinstance(d, Doc)] == [
        f"{path}#0", f"{path}#2", f"{path}#3"]
    assert items[2].url == "u2" and items[3].text == "g h"
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"content": ["x"]}), bad)
    with pytest.raises(ValueError, match=f"{bad}: no `text` column"):
        list(text_splits(FileSystems.match([str(bad)])[0].metadata_list[0], 1 << 20))


def test_wet_conversion_records_become_documents(tmp_path):
    texts = [t for _, t in txt_documents("b", BOOKS[1].read_bytes())][:2]
    path = write_wet(tmp_path / "CC-MAIN-x.warc.wet.gz", texts + [""])
    items = list(read_wet(open(path, "rb"), str(path)))
    assert items[0] == "not_conversion" and items[-1] == "empty_text"
    assert [d.text for d in items[1:3]] == texts
    assert [d.url for d in items[1:3]] == ["https://example.org/0", "https://example.org/1"]
    assert all(d.crawl_date and not d.id.startswith("<") for d in items[1:3])


def _kind_of_id(doc: Doc) -> str:
    """The file suffix in a text document's default id (`path#row`, `path@offset`), "wet" for a record id."""
    return Path(doc.id.split("#")[0].split("@")[0]).suffix or "wet"


def test_read_stage_takes_warc_and_text_files_together(tmp_path):
    docs = txt_documents("x", BOOKS[1].read_bytes())
    pq.write_table(pa.table({"text": [t for _, t in docs]}), tmp_path / "d.parquet")
    with gzip.open(tmp_path / "d.jsonl.gz", "wt") as f:
        f.writelines(json.dumps({"text": t}) + "\n" for _, t in docs[:2])
        f.write("{broken\n")
    write_wet(tmp_path / "d.wet.gz", [docs[0][1]])
    (tmp_path / "t.txt").write_bytes(BOOKS[1].read_bytes())
    with beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(
            ["--direct_running_mode=in_memory"])) as p:
        out = p | ReadWarc([str(WARC), str(tmp_path / "d.*"), str(tmp_path / "t.txt")])
        kinds = out["pages"] | "Kinds" >> beam.Map(lambda x: _kind_of_id(x) if isinstance(x, Doc) else "page")
        assert_that(kinds | "PerKind" >> beam.combiners.Count.PerElement(), equal_to(
            [("page", sum(isinstance(i, dict) for i in iter_warc(str(WARC)))), (".parquet", len(docs)),
             (".gz", 2), ("wet", 1), (".txt", len(docs))]), label="PagesAndDocs")
        assert_that(out["skipped"] | "Skips" >> beam.Filter(lambda r: r in ("bad_json", "not_conversion")),
                    equal_to(["bad_json", "not_conversion"]), label="TextSkips")


def test_curate_parquet_and_jsonl_give_the_txt_shards(tmp_path):
    """One pipeline, three Curates over the same documents: as .txt, Parquet (plus a null row)
    and JSONL (plus a broken line); the token shards are byte-identical. Filters and MinHash
    dedup are off to keep the test short: they see Docs alike whatever file they came from."""
    txts = [str(tmp_path / b.name) for b in BOOKS]
    rows = []
    for book, path in zip(BOOKS, txts):
        Path(path).write_bytes(book.read_bytes())
        rows += txt_documents(path, book.read_bytes())
    pq.write_table(pa.table({"id": [i for i, _ in rows] + ["null"], "text": [t for _, t in rows] + [None]}),
                   tmp_path / "books.parquet", row_group_size=4)
    with open(tmp_path / "books.jsonl", "w") as f:
        f.writelines(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows)
        f.write("{broken\n")
    inputs = {"txt": ",".join(txts), "parquet": str(tmp_path / "books.parquet"),
              "jsonl": str(tmp_path / "books.jsonl")}
    p = new_pipeline(["--direct_running_mode=in_memory"])
    for name, given in inputs.items():
        config, _ = parse_args(["--input", given, "--output", str(tmp_path / name), "--vocab-size", "1000",
                                "--val-fraction", "0.2", "--no-filter", "all", "--no-fuzzy-dedup"])
        _ = p | name >> Curate(config)
    p.run().wait_until_finish()
    funnels = {n: json.loads((tmp_path / n / "manifest.json").read_text())["funnel"] for n in inputs}
    for name, funnel in funnels.items():
        assert funnel["records"] == (sum(funnel["skipped"].values()) + sum(funnel["rejected"].values())
                                     + funnel["kept"]), name
    assert funnels["txt"]["records"] == len(rows) and funnels["txt"]["kept"] > 0
    assert funnels["parquet"]["skipped"] == {"empty_text": 1}
    assert funnels["jsonl"]["skipped"] == {"bad_json": 1}
    assert funnels["parquet"]["kept"] == funnels["jsonl"]["kept"] == funnels["txt"]["kept"]
    for split in ("train", "val"):
        shards = {n: sorted((tmp_path / n / "tokens" / split).glob("*.arrow")) for n in inputs}
        assert shards["txt"] and all(len(s) == len(shards["txt"]) for s in shards.values())
        for a, b, c in zip(*shards.values()):
            assert a.read_bytes() == b.read_bytes() == c.read_bytes(), split
