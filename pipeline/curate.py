"""The curation job as one Beam graph: WARC files (and text datasets) in, OUT/ written.

`Curate.expand` reads like DESIGN.md's stage list: Read -> URL filter ->
Extract (text datasets' documents pass through it) -> LanguageID -> Filters
and Rewriters (pipeline.quality) -> Dedup -> Tokenize -> Write. Every record read ends in exactly one bucket (skipped,
rejected with its stage and reason, or kept), and the manifest, written last,
carries the funnel that proves it.

Documents never travel through the job whole: the worker that read, extracted
and filtered them parks them in temporary Parquet under OUT/_temporary/
(`pipeline.stash`), and what flows on is a reference per document (its id,
text hash and MinHash signature). Dedup decides on the references, the sinks
write each parked file's rows to OUT/documents/ or OUT/rejected/ by those
decisions, and the tokenizer stage reads the written documents back. So no
stage's output grows with the text of the crawl, wherever the runner keeps it.
"""
import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from cc2gpt.pipeline.dedup import Dedup
from cc2gpt.pipeline.dedup.minhash import MinHasher
from cc2gpt.pipeline.doc import REJECTED
from cc2gpt.pipeline.extract import ExtractFn
from cc2gpt.pipeline.langid import LanguageFn
from cc2gpt.pipeline.options import CurateConfig
from cc2gpt.pipeline.progress import Count
from cc2gpt.pipeline.quality import Quality, URLFilterFn, quality_steps
from cc2gpt.pipeline.sinks import WriteDocuments, WriteRejected, read_texts, write_bytes, write_empty
from cc2gpt.pipeline.stash import TEMPORARY, Stash, remove_temporary
from cc2gpt.pipeline.tokenize import TrainTokenizer, WriteTokenShards
from cc2gpt.pipeline.read import ReadWarc
from cc2gpt.tokenizer import Tokenizer
from cc2gpt.tokenizer.manifest import (MANIFEST, TOKENIZER_PATH, build_manifest, dumps_manifest,
                                       tokenizer_relpath)


class Curate(beam.PTransform):
    """PBegin -> OUT/ (documents, rejected, tokenizer, token shards, manifest)."""

    def __init__(self, config: CurateConfig):
        super().__init__()
        self.config = config
        self.steps = quality_steps(config.filters)
        self.signals = sorted({name for step in self.steps for name in step.signals})

    def expand(self, pbegin):
        cfg, out = self.config, self.config.output
        read = pbegin | "ReadWarc" >> ReadWarc(cfg.input, cfg.max_page_bytes, cfg.warc_range_mb << 20,
                                               cfg.txt_doc_kb << 10)
        pages = read["pages"] | "URLFilter" >> _stage(URLFilterFn(cfg.filters.url_blocklist))
        extracted = pages.kept | "Extract" >> _stage(ExtractFn(cfg.extract))
        identified = extracted.kept | "LanguageID" >> _stage(LanguageFn(cfg.language))
        quality = identified.kept | "FiltersAndRewriters" >> Quality(self.steps, lambda: self._stash("rejected"))
        # From here on documents wait in temporary Parquet; references to them flow on.
        filtered = quality["kept"] | "StashKept" >> self._stash("kept", dedup=True)
        deduped = filtered | "Dedup" >> Dedup(cfg.dedup, out)
        kept = deduped["kept"]
        written = (deduped["rejected"], kept) | "Decided" >> beam.Flatten() | "WriteDocuments" >> WriteDocuments(
            out, self.signals)
        model = self._tokenizer(pbegin, written.documents)
        shards = (written.documents | "ReadForTokens" >> beam.FlatMap(read_texts)
                  | "Tokenize" >> WriteTokenShards(out, beam.pvalue.AsSingleton(model), cfg.tokenize.shard_tokens,
                                                   cfg.tokenize.val_fraction))

        stashed = (pages[REJECTED] | "StashURLRejects" >> self._stash("rejected"),
                   extracted[REJECTED] | "StashExtractRejects" >> self._stash("rejected"),
                   identified[REJECTED] | "StashLanguageRejects" >> self._stash("rejected"),
                   quality["rejected"]) | "StashedRejects" >> beam.Flatten()
        rejected = (stashed, deduped["rejected"]) | "AllRejected" >> beam.Flatten()
        for name, pcoll in (("pages", read["pages"]), ("skipped", read["skipped"]),
                            ("filtered", quality["kept"]), ("kept", kept)):
            _ = pcoll | f"Progress_{name}" >> Count(name)   # the live progress line's counts
        files = ((written.documents, written.rejected, stashed | "WriteRejected" >> WriteRejected(out),
                  *([deduped["signature_files"]] if "signature_files" in deduped else []))
                 | "AllParquet" >> beam.Flatten())
        files = (files, pbegin | "Folders" >> beam.Create(["documents", "rejected"])
                 | "EmptyFolders" >> beam.FlatMap(write_empty, out, self.signals, beam.pvalue.AsList(files))
                 ) | "EveryFile" >> beam.Flatten()
        return (
            pbegin
            | "ManifestSeed" >> beam.Create([None])
            | "WriteManifest" >> beam.Map(
                _write_manifest, cfg,
                model=beam.pvalue.AsSingleton(model),
                shards=beam.pvalue.AsList(shards),
                parquet=beam.pvalue.AsList(files),
                **_funnel(read, rejected, kept))
        )

    def _stash(self, kind: str, dedup: bool = False) -> Stash:
        """Documents to OUT/_temporary/<kind>/, with dedup's keys when they are about to be deduplicated."""
        dcfg = self.config.dedup
        hasher = MinHasher(dcfg.num_perm, dcfg.ngram, dcfg.seed, *dcfg.bands_rows()) if dedup and dcfg.fuzzy else None
        return Stash(f"{self.config.output}/{TEMPORARY}/{kind}", self.signals, dedup, hasher)

    def _tokenizer(self, pbegin, documents):
        """The tokenizer file's bytes: the given one (a sentencepiece model or a tokenizer.json,
        checked here, before the job runs), copied into OUT, or a model trained here."""
        tcfg, out = self.config.tokenize, self.config.output
        if tcfg.tokenizer is None:
            texts = documents | "ReadForSample" >> beam.FlatMap(read_texts)
            return texts | "TrainTokenizer" >> TrainTokenizer(
                tcfg.vocab_size, f"{out}/{TOKENIZER_PATH}", sample_bytes=tcfg.sample_bytes,
                val_fraction=tcfg.val_fraction)
        with FileSystems.open(tcfg.tokenizer) as f:
            given = f.read()
        try:
            path = f"{out}/{tokenizer_relpath(Tokenizer(given))}"
        except ValueError as e:
            raise ValueError(f"--tokenizer {tcfg.tokenizer}: {e}") from e
        return (pbegin | "GivenTokenizer" >> beam.Create([given])
                | "CopyTokenizer" >> beam.Map(write_bytes, path))


def _stage(dofn: beam.DoFn) -> beam.ParDo:
    """A filtering stage: main output `kept`, tagged output `rejected`."""
    return beam.ParDo(dofn).with_outputs(REJECTED, main="kept")


def _funnel(read, rejected, kept) -> dict:
    """The funnel's counts as side inputs of the manifest step."""
    return {
        "pages": beam.pvalue.AsSingleton(read["pages"] | "CountPages" >> beam.combiners.Count.Globally()),
        "skipped": beam.pvalue.AsDict(read["skipped"] | "CountSkips" >> beam.combiners.Count.PerElement()),
        "rejected": beam.pvalue.AsDict(
            rejected | "RejectKey" >> beam.Map(lambda d: f"{d.stage}:{d.reason}")
            | "CountRejects" >> beam.combiners.Count.PerElement()),
        "kept": beam.pvalue.AsSingleton(kept | "CountKept" >> beam.combiners.Count.Globally()),
    }


def _write_manifest(_, config: CurateConfig, model, shards, parquet, pages, skipped,
                    rejected, kept):
    """Runs once, after every other write (its side inputs wait for them).

    build_manifest refuses a funnel that does not add up (pages = rejected + kept).
    An empty model (nothing kept for the train split) is recorded as no tokenizer.
    """
    remove_temporary(config.output)
    tokenizer = Tokenizer.from_bytes(model) if model else None
    manifest = build_manifest(
        tokenizer=tokenizer, tokenizer_path=tokenizer_relpath(tokenizer) if tokenizer else None,
        shards=shards,
        funnel={"records": pages + sum(skipped.values()), "skipped": skipped,
                "rejected": rejected, "kept": kept},
        config=config.to_dict(),
    )
    # Written last and through FileSystems: its presence on gs:// or s3:// means the job finished.
    write_bytes(dumps_manifest(manifest), f"{config.output}/{MANIFEST}")
    return json.dumps(manifest["funnel"])
