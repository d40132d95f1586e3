"""Fine-tuning inputs: bad files name the file and line; splits are deterministic and never
put one text in two splits; batches pad and mask as the book's collate functions."""

import json

import pytest

from cc2gpt.train.finetune.data import (balance, grouped_split, ordered_split, read_instructions,
                                 read_labelled)
from cc2gpt.train.finetune.instruct import collate, prompt_text

from .conftest import DATA

SMS = DATA / "finetune/SMSSpamCollection.tsv"
INSTRUCTIONS = DATA / "finetune/instruction-data.json"


@pytest.mark.parametrize("name, content, error", [
    ("a.tsv", "ham\tfine\nspam no tab here\n", r"a\.tsv:2: expected label<TAB>text"),
    ("a.tsv", "ham\tfine\nham\t  \n", r"a\.tsv:2: empty text"),
    ("a.tsv", "ham\tfine\n\neggs\tunknown\n", r"a\.tsv:3: unknown label 'eggs' \(labels: ham, spam\)"),
    ("a.csv", "label,body\nham,fine\n", r"a\.csv:1: missing column\(s\) \['text'\]"),
    ("a.csv", 'label,text\nham,fine\nspam,"two\nlines"\n,x\n', r"a\.csv:5: empty label"),
    ("a.jsonl", '{"text": "fine", "label": "ham"}\n{"text": "x", "label": \n', r"a\.jsonl:2: malformed JSON"),
    ("a.jsonl", '{"text": "fine", "label": "ham"}\n{"label": "spam"}\n', r"a\.jsonl:2: expected an object"),
])
def test_bad_labelled_files_name_file_and_line(name, content, error, tmp_path):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=error):
        read_labelled(tmp_path / name, labels=["ham", "spam"])


def test_labelled_formats_agree(tmp_path):
    rows = [("ham", "Ok lar, see you"), ("spam", 'Win "cash", now\tfree')]
    (tmp_path / "a.tsv").write_text("label\ttext\r\n" + "".join(f"{l}\t{t}\r\n" for l, t in rows))
    import csv
    with open(tmp_path / "a.csv", "w", newline="") as f:
        csv.writer(f).writerows([("text", "label")] + [(t, l) for l, t in rows])
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for l, t in rows))
    for name in ("a.tsv", "a.csv", "a.jsonl"):
        assert [(r.label, r.text) for r in read_labelled(tmp_path / name)] == rows


def test_sms_split_is_deterministic_balanced_and_keeps_duplicates_together():
    rows = read_labelled(SMS)
    assert len(rows) == 5574 and len({r.text for r in rows}) < 5574  # duplicates exist
    balanced = balance(rows, seed=123)
    assert sorted(r.label for r in balanced).count("spam") == 747 == len(balanced) / 2
    train, val, test = grouped_split(balanced, lambda r: r.text, (0.7, 0.1, 0.2), seed=123)
    assert (len(train), len(val), len(test)) == (1045, 149, 300)
    texts = [{r.text for r in part} for part in (train, val, test)]
    assert not texts[0] & texts[2] and not texts[0] & texts[1] and not texts[1] & texts[2]
    assert grouped_split(balanced, lambda r: r.text, (0.7, 0.1, 0.2), seed=123)[2] == test
    assert grouped_split(balanced, lambda r: r.text, (0.7, 0.1, 0.2), seed=124)[2] != test


def test_instruction_split_is_the_books():
    entries = read_instructions(INSTRUCTIONS)
    train, val, test = ordered_split(entries, (0.85, 0.05, 0.1))
    assert (len(train), len(test), len(val)) == (935, 110, 55)
    assert test[0] == entries[935] and val[0] == entries[1045]


@pytest.mark.parametrize("content, error", [
    ('[{"instruction": "a", "output": "b"},\n {"instruction": "c", "output": }]', r":2: malformed JSON"),
    ('[{"instruction": "a", "output": "b"},\n\n {"instruction": "c"}]', r":3: entry 1: missing or empty 'output'"),
    ('{"instruction": "a"}', r":1: expected a JSON list"),
    ('[{"instruction": "a", "output": "b"}, 3]', r":1: entry 1: expected an object"),
])
def test_bad_instruction_files_name_file_and_line(content, error, tmp_path):
    (tmp_path / "d.json").write_text(content)
    with pytest.raises(ValueError, match=r"d\.json" + error):
        read_instructions(tmp_path / "d.json")


def test_alpaca_prompt_is_the_books():
    assert prompt_text("alpaca", "Name a color.", "") == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nName a color.\n\n### Response:\n")
    assert prompt_text("alpaca", "Fix it.", "teh").endswith(
        "### Instruction:\nFix it.\n\n### Input:\nteh\n\n### Response:\n")
    assert prompt_text("phi3", "Fix it.", "teh") == "<|user|>\nFix it.\nteh\n\n<|assistant|>\n"


def test_collate_pads_per_batch_and_keeps_the_first_eos():
    eos = 1
    examples = [([5, 6, 7], [8, 9, eos]), ([5, 6], [8, eos])]
    b = collate(examples, eos, mask_prompt=False, device="cpu")
    assert b["idx"].tolist() == [[5, 6, 7, 8, 9], [5, 6, 8, eos, eos]]
    assert b["targets"].tolist() == [[6, 7, 8, 9, eos], [6, 8, eos, -1, -1]]
    masked = collate(examples, eos, mask_prompt=True, device="cpu")
    assert masked["targets"].tolist() == [[-1, -1, 8, 9, eos], [-1, 8, eos, -1, -1]]
