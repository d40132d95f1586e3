"""The curation job as one Beam graph: WARC files (and text datasets) in, OUT/ written.

`Curate.expand` reads like DESIGN.md's stage list: Read -> URL filter ->
Extract (text datasets' documents pass through it) -> LanguageID -> Filters
and Rewriters (pipeline.quality) -> Dedup -> Tokenize -> Write. Every record read ends in exactly one bucket (skipped,
rejected with its stage and reason, or kept), and the manifest, written last,
carries the funnel that proves it.
"""
import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from cc2gpt.pipeline.dedup import Dedup
from cc2gpt.pipeline.doc import REJECTED
from cc2gpt.pipeline.extract import ExtractFn
from cc2gpt.pipeline.langid import LanguageFn
from cc2gpt.pipeline.options import CurateConfig
from cc2gpt.pipeline.progress import Count
from cc2gpt.pipeline.quality import Quality, URLFilterFn, quality_steps
from cc2gpt.pipeline.sinks import WriteDocuments, write_bytes
from cc2gpt.pipeline.tokenize import TrainTokenizer, WriteTokenShards
from cc2gpt.pipeline.warc import ReadWarc
from cc2gpt.tokenizer import Tokenizer
from cc2gpt.tokenizer.manifest import (MANIFEST, TOKENIZER_PATH, build_manifest, dumps_manifest,
                                       tokenizer_relpath)


class Curate(beam.PTransform):
    """PBegin -> OUT/ (documents, rejected, tokenizer, token shards, manifest)."""

    def __init__(self, config: CurateConfig):
        super().__init__()
        self.config = config
        self.steps = quality_steps(config.filters)

    def expand(self, pbegin):
        cfg, out = self.config, self.config.output
        read = pbegin | "ReadWarc" >> ReadWarc(cfg.input, cfg.max_page_bytes, cfg.warc_range_mb << 20,
                                               cfg.txt_doc_kb << 10)
        pages = read["pages"] | "URLFilter" >> _stage(URLFilterFn(cfg.filters.url_blocklist))
        extracted = pages.kept | "Extract" >> _stage(ExtractFn(cfg.extract))
        identified = extracted.kept | "LanguageID" >> _stage(LanguageFn(cfg.language))
        quality = identified.kept | "FiltersAndRewriters" >> Quality(self.steps)
        deduped = quality["kept"] | "Dedup" >> Dedup(cfg.dedup, out)
        kept = deduped["kept"]
        model = self._tokenizer(pbegin, kept)
        shards = kept | "Tokenize" >> WriteTokenShards(
            out, beam.pvalue.AsSingleton(model), cfg.tokenize.shard_tokens, cfg.tokenize.val_fraction)

        rejected = (pages[REJECTED], extracted[REJECTED], identified[REJECTED], quality["rejected"],
                    deduped["rejected"]) | "AllRejected" >> beam.Flatten()
        for name, pcoll in (("pages", read["pages"]), ("skipped", read["skipped"]),
                            ("filtered", quality["kept"]), ("kept", kept)):
            _ = pcoll | f"Progress_{name}" >> Count(name)   # the live progress line's counts
        signals = sorted({name for step in self.steps for name in step.signals})
        written = (
            (kept | "WriteDocuments" >> WriteDocuments(out, "documents", signals),
             rejected | "WriteRejected" >> WriteDocuments(out, "rejected", signals, rejected=True),
             *([deduped["signature_files"]] if "signature_files" in deduped else []))
            | "AllParquet" >> beam.Flatten())
        return (
            pbegin
            | "ManifestSeed" >> beam.Create([None])
            | "WriteManifest" >> beam.Map(
                _write_manifest, cfg,
                model=beam.pvalue.AsSingleton(model),
                shards=beam.pvalue.AsList(shards),
                parquet=beam.pvalue.AsList(written),
                **_funnel(read, rejected, kept))
        )

    def _tokenizer(self, pbegin, kept):
        """The tokenizer file's bytes: the given one (a sentencepiece model or a tokenizer.json,
        checked here, before the job runs), copied into OUT, or a model trained here."""
        tcfg, out = self.config.tokenize, self.config.output
        if tcfg.tokenizer is None:
            return kept | "TrainTokenizer" >> TrainTokenizer(
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
