"""Filter parity: cc2gpt's quality filters vs datatrove's same filters, page by page.

The pages are every record of the shared real WARC files that cc2gpt's reader
and extractor (trafilatura, as `cc2gpt curate` runs it) turn into text and
lid.176 calls English. Each filter pair sees the same extracted text on its
own (not the chain's output), datatrove's built with our filter's thresholds
(`theirs()`), so any difference is a difference in the rules. For C4, which
also cleans lines, a page on which both keep must also yield the same text.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/filter_parity.py [--warc GLOB]

Per filter: pages, agree, disagree, both keep, both reject, only ours rejects,
only theirs rejects, both reject for the same rule, CPU time of each side
(contended machines make it rough), and the reason pairs (ours / theirs) of
every disagreement. Last line: `ratio: X` = the fraction of
pages on which every filter agrees.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import re
import time
from collections import Counter
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
                                        GopherQualityFilter, GopherRepetitionFilter)

from pipeline.doc import Doc
from pipeline.extract import ExtractConfig
from pipeline.extract_worker import ExtractFailed
from pipeline.filters import C4Quality, FineWebQuality, GopherQuality, GopherRepetition
from pipeline.langid import LanguageConfig, identify, load_model
from pipeline.rewriters import C4LineCleaner
from pipeline.warc import iter_warc

WARCS = Path(__file__).resolve().parents[1] / "../shared/data/warc/*.warc.gz"
PEERS = {GopherRepetition: GopherRepetitionFilter, GopherQuality: GopherQualityFilter,
         C4Quality: C4QualityFilter, FineWebQuality: FineWebQualityFilter}
RENAMED = {"min_alpha_words_ratio": "max_non_alpha_words_ratio"}  # datatrove's (misleading) name
# datatrove's reject reasons, spelled as ours (FineWeb's and C4's are the same words)
REASONS = {"gopher_short_doc": "too_few_words", "gopher_long_doc": "too_many_words",
           "gopher_below_avg_threshold": "short_mean_word_length",
           "gopher_above_avg_threshold": "long_mean_word_length",
           "gopher_too_many_hashes": "too_many_hashes", "gopher_too_many_ellipsis": "too_many_ellipsis",
           "gopher_too_many_bullets": "too_many_bullet_lines",
           "gopher_too_many_end_ellipsis": "too_many_ellipsis_lines",
           "gopher_below_alpha_threshold": "too_few_alpha_words",
           "gopher_enough_stop_words": "too_few_stop_words"}


def their_reason(reason: str) -> str:
    reason = REASONS.get(reason, reason)
    reason = re.sub(r"^top_(\d+)_gram$", r"top_\1_gram_frac", reason)
    return re.sub(r"^duplicated_(\d+)_n_grams$", r"dup_\1_gram_frac", reason)


def theirs(ours):
    """datatrove's filter with our filter's thresholds."""
    params = {RENAMED.get(k, k): v for k, v in dataclasses.asdict(ours).items()}
    if "stop_words" in params:
        params["stop_words"] = list(params["stop_words"])
    return PEERS[type(ours)](**params)


def english_pages(pattern: str) -> tuple[list[Doc], Counter]:
    """Docs of every extracted English page, and a count of what was read."""
    extractor, model, lang = ExtractConfig().extractor(), load_model(), LanguageConfig()
    docs, seen = [], Counter()
    try:
        for path in sorted(glob.glob(pattern)):
            seen["files"] += 1
            for page in iter_warc(path):
                if isinstance(page, str):
                    continue
                seen["html pages"] += 1
                try:
                    text = extractor(page["html"], page["content_type"], page["url"])
                except ExtractFailed:
                    continue
                seen["extracted"] += 1
                if identify(model, text, lang)[2] is None:
                    docs.append(Doc.from_page(page, text))
    finally:
        extractor.close()
    seen["english"] = len(docs)
    return docs, seen


def compare(ours, docs: list[Doc]) -> tuple[Counter, Counter, list[bool]]:
    """Outcome counts, disagreement reason pairs, and per page whether the filters agree."""
    peer, counts, pairs, agree = theirs(ours), Counter(), Counter(), []
    ours.setup()  # spaCy loads before timing, on both sides
    peer.filter(Document(text="Warm up.", id="0"))
    for d in docs:
        mine = d.copy()
        their = Document(text=d.text, id=d.id)
        start = time.process_time()
        reason = ours.filter(mine)
        counts["ours CPU ms"] += time.process_time() - start
        start = time.process_time()
        result = peer.filter(their)
        counts["theirs CPU ms"] += time.process_time() - start
        their_keep, peer_reason = (result, None) if isinstance(result, bool) else result
        peer_reason = their_reason(peer_reason) if not their_keep else None
        reason = None if reason is True else reason
        kept_text = C4LineCleaner(ours).rewrite(mine) if isinstance(ours, C4Quality) else mine.text
        same_text = reason is not None or not their_keep or kept_text == their.text
        if (reason is None) != their_keep:
            counts["only ours rejects" if reason else "only theirs rejects"] += 1
            pairs[f"{reason or 'keep'} / {peer_reason or 'keep'}"] += 1
        elif their_keep:
            counts["both keep"] += 1
            if not same_text:
                counts["text differs"] += 1
                pairs["text differs"] += 1
        else:
            counts["both reject"] += 1
            counts["same rule"] += reason == peer_reason
        agree.append((reason is None) == their_keep and same_text)
    counts["agree"], counts["disagree"] = sum(agree), len(agree) - sum(agree)
    for side in ("ours CPU ms", "theirs CPU ms"):
        counts[side] = round(1000 * counts[side])
    return counts, pairs, agree


def report(docs: list[Doc]) -> float:
    """Print the per-filter table and the disagreements; return the all-agree fraction."""
    columns = ["agree", "disagree", "both keep", "both reject", "only ours rejects",
               "only theirs rejects", "same rule", "text differs", "ours CPU ms", "theirs CPU ms"]
    print(f"{'filter':<18} {'pages':>5} " + " ".join(f"{c:>{len(c)}}" for c in columns))
    every = [True] * len(docs)
    notes = []
    for cls in PEERS:
        counts, pairs, agree = compare(cls(), docs)
        every = [a and b for a, b in zip(every, agree)]
        print(f"{cls.name:<18} {len(docs):>5} " + " ".join(f"{counts[c]:>{len(c)}}" for c in columns))
        notes += [f"  {cls.name}: {pair} x{n}" for pair, n in pairs.most_common()]
    print("disagreements (ours / theirs):" if notes else "disagreements: none")
    for note in notes:
        print(note)
    return sum(every) / max(len(docs), 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warc", default=str(WARCS), help="WARC files (glob)")
    args = parser.parse_args()
    docs, seen = english_pages(args.warc)
    if not docs:
        raise SystemExit(f"no English page in {args.warc} ({dict(seen)})")
    print(", ".join(f"{k}: {v}" for k, v in seen.items()))
    print(f"ratio: {report(docs):.4f}")


if __name__ == "__main__":
    main()
