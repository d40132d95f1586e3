"""Typed configuration of the curation job and its command line.

One `CurateConfig` holds every option the job runs with; each stage owns the
dataclass of its own thresholds. The resolved config is recorded in the
manifest, so an output always says how it was made. Arguments this parser does
not know are handed to Beam (`--runner`, `--direct_num_workers`, `--project`...).
"""
import argparse
import dataclasses
from dataclasses import dataclass, field

from cc2gpt.pipeline.dedup import DedupConfig
from cc2gpt.pipeline.extract import ExtractConfig
from cc2gpt.pipeline.filters import FilterConfig, parse_filter_overrides
from cc2gpt.pipeline.langid import LanguageConfig
from cc2gpt.pipeline.logs import LEVELS
from cc2gpt.pipeline.text_input import DEFAULT_TXT_DOC_BYTES
from cc2gpt.pipeline.warc import DEFAULT_RANGE_BYTES
from cc2gpt.tokenizer.bpe import MIN_VOCAB_SIZE
from cc2gpt.tokenizer.shards import DEFAULT_VAL_FRACTION


@dataclass
class TokenizeConfig:
    """How kept documents become token shards."""
    tokenizer: str | None = None        # a sentencepiece model or tokenizer.json; else one is trained
    vocab_size: int = 32768             # for the trained tokenizer
    sample_bytes: int = 200_000_000     # bounded training sample of kept text
    shard_tokens: int = 100_000_000     # target tokens per shard
    val_fraction: float = DEFAULT_VAL_FRACTION  # share of documents (by stable id hash) in val


@dataclass
class CurateConfig:
    input: list[str]
    output: str
    max_page_bytes: int = 2_000_000     # larger HTTP payloads are skipped as `oversized`
    warc_range_mb: int = DEFAULT_RANGE_BYTES >> 20  # WARC files are read in byte ranges of this size
    txt_doc_kb: int = DEFAULT_TXT_DOC_BYTES >> 10    # .txt inputs are cut into documents of about this size
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    log_level: str = "error"            # library log records shown on stderr (pipeline.logs)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cc2gpt curate",
        description="Curate WARC files into documents, rejects and token shards (an Apache Beam job). "
                    "Unknown arguments are Beam pipeline options, e.g. --runner DataflowRunner.")
    p.add_argument("--input", required=True,
                   help="comma-separated globs, local or gs:// / s3://: WARC files, and text datasets "
                        "(.parquet or .jsonl[.gz] with a text column, .txt, WET .wet[.gz]) that skip "
                        "extraction")
    p.add_argument("--output", required=True, help="output folder OUT (local or gs:// / s3://)")
    tok = p.add_mutually_exclusive_group()
    tok.add_argument("--tokenizer", help="use this tokenizer instead of training one: a cc2gpt "
                     "sentencepiece model or a Hugging Face tokenizer.json (e.g. GPT-2's)")
    tok.add_argument("--vocab-size", type=_vocab_size, default=TokenizeConfig.vocab_size,
                     help="vocabulary of the tokenizer trained on the kept documents")
    p.add_argument("--tokenizer-sample-bytes", type=int, default=TokenizeConfig.sample_bytes)
    p.add_argument("--shard-tokens", type=int, default=TokenizeConfig.shard_tokens,
                   help="target number of tokens per Arrow shard")
    p.add_argument("--val-fraction", type=float, default=TokenizeConfig.val_fraction)
    p.add_argument("--max-page-bytes", type=int, default=CurateConfig.max_page_bytes)
    p.add_argument("--warc-range-mb", type=int, default=CurateConfig.warc_range_mb,
                   help="read WARC files in byte ranges of this many MiB, each where it lands")
    p.add_argument("--txt-doc-kb", type=int, default=CurateConfig.txt_doc_kb,
                   help="cut .txt inputs into documents of about this many KB at paragraph breaks "
                        "(ids PATH#k); 0 keeps each file one document (id PATH)")
    p.add_argument("--extractor", choices=("trafilatura", "resiliparse"),
                   default=ExtractConfig.backend)
    p.add_argument("--extract-timeout", type=float, default=ExtractConfig.timeout_s,
                   help="seconds one page may take to extract before it is killed and counted")
    p.add_argument("--languages", default=",".join(LanguageConfig().languages),
                   help="comma-separated lid.176 codes to keep ('' keeps every language)")
    p.add_argument("--min-language-score", type=float, default=LanguageConfig.min_score)
    p.add_argument("--filter", action="append", default=[], metavar="NAME.PARAM=VALUE",
                   help="set a filter threshold, e.g. gopher_quality.min_doc_words=30 (repeatable)")
    p.add_argument("--no-filter", action="append", default=[], metavar="NAME",
                   help="turn a filter off, e.g. --no-filter c4 (repeatable); "
                        "--no-filter all turns every filter and rewriter off")
    p.add_argument("--dedup-threshold", type=float, default=DedupConfig.threshold,
                   help="MinHash/LSH Jaccard threshold for near-duplicates")
    p.add_argument("--no-fuzzy-dedup", action="store_true", help="exact dedup only")
    p.add_argument("--dedup-against", default=None, metavar="PREV_OUT",
                   help="also drop documents near-duplicate to those a previous run kept")
    p.add_argument("--log-level", choices=LEVELS, default=CurateConfig.log_level,
                   help="also show library log records (Beam, trafilatura, ...) at this level and above")
    return p


def parse_args(argv: list[str]) -> tuple[CurateConfig, list[str]]:
    """The job's config and the leftover arguments, which are Beam's."""
    args, beam_args = build_parser().parse_known_args(argv)
    languages = tuple(code for code in args.languages.split(",") if code)
    config = CurateConfig(
        input=[g for g in args.input.split(",") if g],
        output=args.output.rstrip("/"),
        max_page_bytes=args.max_page_bytes,
        warc_range_mb=args.warc_range_mb,
        txt_doc_kb=args.txt_doc_kb,
        extract=dataclasses.replace(ExtractConfig(), backend=args.extractor,
                                    timeout_s=args.extract_timeout),
        language=dataclasses.replace(LanguageConfig(), languages=languages,
                                     min_score=args.min_language_score),
        filters=parse_filter_overrides(args.filter, disabled=args.no_filter),
        dedup=dataclasses.replace(DedupConfig(), threshold=args.dedup_threshold,
                                  fuzzy=not args.no_fuzzy_dedup, against=args.dedup_against),
        tokenize=TokenizeConfig(tokenizer=args.tokenizer, vocab_size=args.vocab_size,
                                sample_bytes=args.tokenizer_sample_bytes,
                                shard_tokens=args.shard_tokens, val_fraction=args.val_fraction),
        log_level=args.log_level,
    )
    return config, beam_args


def _vocab_size(value: str) -> int:
    """--vocab-size, refused before any work when the fixed pieces leave no room."""
    n = int(value)
    if n < MIN_VOCAB_SIZE:
        raise argparse.ArgumentTypeError(f"{n} is below {MIN_VOCAB_SIZE} (the special and byte "
                                         "pieces every cc2gpt tokenizer holds, plus one)")
    return n
