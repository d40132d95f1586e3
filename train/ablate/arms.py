"""The training sets (arms) of a data ablation, built from one curation run's OUT/ without
rerunning it: OUT/documents holds the kept documents, OUT/rejected every dropped one with
the stage and reason that dropped it (and its text, when extraction produced one).

`raw` is every document with text. The job's stages then apply in run order (language ID,
the filters in the order the manifest's config lists them, exact dedup, near dedup), one
arm each, cumulatively: an arm is `raw` without the documents that stage and every earlier
one rejected. The last is `curated`, exactly the kept set. Leave-one-out arms
(`no_STAGE`) are the kept set plus that stage's rejects: what the job keeps without the
stage, as far as the stored output can tell (those rejects did not meet the later stages,
which might have dropped some of them).

Texts are as stored: kept documents and the rejects of later stages carry the rewriters'
changes (C4 line cleaning, PII masking), rejects of earlier stages their extracted text.
"""

from typing import NamedTuple

import pyarrow.parquet as pq

from cc2gpt.tokenizer.shards import split_of

RAW, CURATED = "raw", "curated"
# Stages before the quality filters, and dedup's two steps (named by their reject reason).
FIRST_STAGES = ("url_blocklist", "extract", "language")
DEDUP_STEPS = {"exact_duplicate": "exact_dedup", "near_duplicate": "near_dedup"}


class Doc(NamedTuple):
    id: str
    text: str
    step: str  # the step that rejected it ("" when kept)


class Arms(NamedTuple):
    docs: list[Doc]  # every document with text, sorted by id
    heldout: list[int]  # indices into docs of the held-out slice (in no arm's training data)
    steps: list[str]  # the job's rejecting steps in run order (those that rejected any text)
    members: dict[str, list[int]]  # arm name -> indices into docs (held-out slice excluded)


def read_parquet_dir(folder, columns: list[str]) -> list[dict]:
    files = sorted(folder.glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f, columns=columns).to_pylist()]


def read_docs(out) -> list[Doc]:
    """Kept and rejected documents that have text, sorted by id; a ValueError when OUT/ lacks
    the documents or a reject lacks its stage."""
    if not (out / "documents").is_dir() or not (out / "rejected").is_dir():
        raise ValueError(f"{out}: not a curation output (needs documents/ and rejected/ Parquet folders)")
    docs = [Doc(r["id"], r["text"], "") for r in read_parquet_dir(out / "documents", ["id", "text"])
            if r["text"]]
    for r in read_parquet_dir(out / "rejected", ["id", "text", "stage", "reason"]):
        if not r["stage"]:
            raise ValueError(f"{out}/rejected: document {r['id']} has no stage")
        if r["text"]:
            step = DEDUP_STEPS.get(r["reason"], r["stage"]) if r["stage"] == "dedup" else r["stage"]
            docs.append(Doc(r["id"], r["text"], step))
    return sorted(docs, key=lambda d: d.id)


def step_order(config: dict, seen: set[str]) -> list[str]:
    """The rejecting steps among `seen` in the job's run order; a step the config does not
    name (a filter of a newer job) goes just before dedup, by name."""
    filters = [name for name, cfg in (config.get("filters") or {}).items() if cfg is not None]
    order = [*FIRST_STAGES, *(f for f in filters if f not in FIRST_STAGES)]
    order += sorted(seen - set(order) - set(DEDUP_STEPS.values())) + list(DEDUP_STEPS.values())
    return [s for s in order if s in seen]


def build_arms(out, manifest: dict, heldout_fraction: float, leave_one_out: bool = False) -> Arms:
    """Every arm of OUT: raw, one per step cumulatively (the last named curated), and with
    leave_one_out the no_STEP arms. The held-out slice is the raw documents whose id hashes
    into a `heldout_fraction` split (tokenizer.shards.split_of), left out of every arm."""
    docs = read_docs(out)
    if not docs:
        raise ValueError(f"{out}: no document with text, kept or rejected")
    steps = step_order(manifest.get("config", {}), {d.step for d in docs if d.step})
    heldout = [i for i, d in enumerate(docs) if split_of(d.id, heldout_fraction) == "val"]
    held = set(heldout)
    pool = [i for i in range(len(docs)) if i not in held]
    members = {RAW: pool}
    for n, step in enumerate(steps):
        dropped = set(steps[:n + 1])
        name = CURATED if n == len(steps) - 1 else step
        members[name] = [i for i in pool if docs[i].step not in dropped]
    members.setdefault(CURATED, pool)  # nothing was rejected with text: curated is raw
    if leave_one_out:
        for step in steps:
            members[f"no_{step}"] = [i for i in pool if docs[i].step in ("", step)]
    return Arms(docs, heldout, steps, members)


def select(arms: Arms, names: list[str] | None) -> list[str]:
    """The arms to train, in build order: `names` (a ValueError naming the unknown ones) or all."""
    if not names:
        return list(arms.members)
    unknown = [n for n in names if n not in arms.members]
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; this OUT has {list(arms.members)}")
    return [n for n in arms.members if n in names]
