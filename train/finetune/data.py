"""Fine-tuning inputs: labelled texts (TSV, CSV, JSONL) and instruction examples (a JSON
list), read with errors that name the file and line, plus balancing and the splits.

TSV is `label<TAB>text` per line (the UCI SMS Spam Collection's layout; an optional
`label<TAB>text` header); CSV needs a header with `text` and `label` columns; JSONL one
object with `text` and `label` per line. Instruction data is a JSON list of objects with
`instruction`, `output` and optionally `input` (Alpaca's layout).
"""

import csv
import json
import random
from pathlib import Path
from typing import NamedTuple


class Labelled(NamedTuple):
    text: str
    label: str
    line: int  # 1-based line in the file, for error messages


class Instruction(NamedTuple):
    instruction: str
    input: str
    output: str


def _rows(path: Path):
    """(line, label, text) of every record of a TSV, CSV or JSONL file."""
    kind = path.suffix.lower()
    with open(path, encoding="utf-8", newline="") as f:
        if kind == ".csv":
            reader = csv.DictReader(f)
            missing = [c for c in ("text", "label") if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}:1: missing column(s) {missing} (header: {reader.fieldnames})")
            for row in reader:
                yield reader.line_num, row["label"], row["text"]
            return
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if kind in (".jsonl", ".json"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: malformed JSON: {e.msg}") from None
                if not isinstance(obj, dict) or "text" not in obj or "label" not in obj:
                    raise ValueError(f"{path}:{n}: expected an object with 'text' and 'label'")
                yield n, obj["label"], obj["text"]
            else:
                label, tab, text = line.partition("\t")
                if not tab:
                    raise ValueError(f"{path}:{n}: expected label<TAB>text, found no tab")
                if n == 1 and (label.lower(), text.lower()) == ("label", "text"):
                    continue  # a header
                yield n, label, text


def read_labelled(path, labels: list[str] | None = None) -> list[Labelled]:
    """Every (text, label) of a TSV, CSV or JSONL file; `labels` given, any other label is
    an error naming the line. Empty texts and labels are errors too."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    out = []
    for n, label, text in _rows(path):
        label = str(label).strip() if label is not None else ""
        if not label:
            raise ValueError(f"{path}:{n}: empty label")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}:{n}: empty text" if not text or isinstance(text, str)
                             else f"{path}:{n}: text is a {type(text).__name__}, not a string")
        if labels is not None and label not in labels:
            raise ValueError(f"{path}:{n}: unknown label {label!r} (labels: {', '.join(labels)})")
        out.append(Labelled(text, label, n))
    if not out:
        raise ValueError(f"{path}: no labelled texts")
    return out


def balance(rows: list[Labelled], seed: int) -> list[Labelled]:
    """Every class undersampled to the rarest one's count (a seeded random choice), in
    file order."""
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row.label, []).append(i)
    n = min(len(v) for v in by_label.values())
    rng = random.Random(seed)
    keep = sorted(i for label in sorted(by_label) for i in rng.sample(by_label[label], n))
    return [rows[i] for i in keep]


def grouped_split(rows: list, key, fractions, seed: int) -> tuple[list, list, list]:
    """(train, val, test) of about the given fractions, deterministic for a seed. Rows with
    the same key (the same text) are one group and land in one split, so no duplicate is
    split across train and test. Groups are shuffled, then dealt in order: train until it
    holds int(n * f_train) rows, val until int(n * f_val) more, the rest test."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    cut_train = int(len(rows) * fractions[0])
    cut_val = cut_train + int(len(rows) * fractions[1])
    parts: tuple[list, list, list] = ([], [], [])
    count = 0
    for group in order:
        parts[0 if count < cut_train else 1 if count < cut_val else 2].extend(group)
        count += len(group)
    return parts


def _json_list(path: Path) -> list[tuple[int, object]]:
    """(line, element) of a top-level JSON list, parsed element by element to know lines."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    pos = skip(0)
    if not text.startswith("[", pos):
        raise ValueError(f"{path}:{line_of(pos)}: expected a JSON list of instruction objects")
    out, pos = [], skip(pos + 1)
    while not text.startswith("]", pos):
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None
        out.append((line_of(pos), obj))
        pos = skip(end)
        if text.startswith(",", pos):
            pos = skip(pos + 1)
        elif not text.startswith("]", pos):
            raise ValueError(f"{path}:{line_of(pos)}: malformed JSON: expected ',' or ']'")
    if skip(pos + 1) != len(text):
        raise ValueError(f"{path}:{line_of(pos)}: malformed JSON: text after the list")
    return out


def read_instructions(path) -> list[Instruction]:
    """The examples of a JSON list of {instruction, input, output} (input optional)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    out = []
    for i, (line, obj) in enumerate(_json_list(path)):
        where = f"{path}:{line}: entry {i}"
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
        for key in ("instruction", "output"):
            if not isinstance(obj.get(key), str) or not obj[key].strip():
                raise ValueError(f"{where}: missing or empty {key!r}")
        if not isinstance(obj.get("input", ""), str):
            raise ValueError(f"{where}: 'input' must be a string")
        out.append(Instruction(obj["instruction"], obj.get("input", ""), obj["output"]))
    if not out:
        raise ValueError(f"{path}: no instruction examples")
    return out


def ordered_split(items: list, fractions) -> tuple[list, list, list]:
    """(train, val, test) cut in file order, as the book cuts its instruction data: the
    first int(n * f_train) train, the next int(n * f_test) test, the rest val."""
    n_train, n_test = int(len(items) * fractions[0]), int(len(items) * fractions[2])
    return (items[:n_train], items[n_train + n_test:], items[n_train:n_train + n_test])
