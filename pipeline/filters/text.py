"""Words, sentences and punctuation as datatrove (FineWeb's code) defines them for English.

The Gopher, C4 and FineWeb rules count words, sentences and sentence-ending
lines; to decide as datatrove does on the same text they must count the same
things. Words and sentences come from the tokenizer datatrove uses: spaCy's
blank English pipeline (its rule-based tokenizer and sentencizer; no trained
model, nothing downloaded). A regular expression cannot stand in for it: spaCy
splits "don't" into "do" "n't", keeps "U.S.", "3.5", "e.g." and "..." whole,
and has hundreds of such exceptions, and near a threshold each one flips a
decision. The punctuation sets are datatrove's (datatrove.utils.text,
Apache-2.0), copied as data.
"""
from __future__ import annotations

import sys
import threading
from functools import lru_cache

# Unicode's sentence terminals (the Sentence_Terminal property): "." "!" "?" and their
# counterparts in other scripts. A FineWeb line "ends a sentence" if it ends in one.
TERMINAL_PUNCTUATION = tuple(
    '!.?։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅᪨᪩᪪᪫᭚'
    '᭛᭞᭟᭽᭾᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼⹓⹔。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗'
    '！．？｡𐩖𐩗𐽕𐽖𐽗𐽘𐽙𐾆𐾇𐾈𐾉𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊'
    '𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑥄𑥆𑩂𑩃𑪛𑪜𑱁𑱂𑻷𑻸\U00011f43\U00011f44𖩮𖩯𖫵𖬷𖬸𖭄𖺘𛲟𝪈'
)
# A token made only of these is a symbol, not a word (Gopher quality): ASCII and CJK
# punctuation, some symbols, the fullwidth digit one (as datatrove has it), control characters.
PUNCTUATION = frozenset('!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„\';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_."}►»'
                        + "".join(map(chr, [*range(0, 9), *range(11, 32), *range(127, 160)]))
                        ) | set(TERMINAL_PUNCTUATION)

_local = threading.local()
# spaCy keeps every distinct token it has seen (about 0.5 kB each) to tokenize them
# again fast; past this many a thread starts afresh, so a worker's memory stays bounded.
MAX_LEXEMES = 100_000


def english():
    """This thread's spaCy blank English pipeline (tokenizer + sentencizer), loaded on first use."""
    nlp = getattr(_local, "nlp", None)
    if nlp is None or len(nlp.vocab) > MAX_LEXEMES:
        nlp = _local.nlp = _import_spacy().blank("en")
        nlp.add_pipe("sentencizer")
    return nlp


def _import_spacy():
    """spaCy, imported without torch unless the process already has it.

    spaCy's thinc imports torch when it is installed (some 180 MB per worker and
    seconds of start-up); the rule-based tokenizer never uses it, and pipeline/
    never imports torch, so in a curation worker the import is refused. A
    process that already holds torch (a test, a notebook) keeps it.
    """
    if "torch" in sys.modules:
        import spacy
        return spacy
    sys.modules["torch"] = None   # makes `import torch` raise ImportError: thinc then runs without it
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


@lru_cache(maxsize=4)  # the Gopher filters read the same text one after the other
def split_words(text: str) -> tuple[str, ...]:
    """spaCy's tokens of `text`, whitespace dropped: words and punctuation marks ("do", "n't", ".")."""
    return tuple(t.text.strip() for t in english().tokenizer(text) if t.text.strip())


def count_sentences(text: str) -> int:
    """Sentences by spaCy's sentencizer: one ends after a terminal mark token ("." "!" "?"), at
    the next token that is not punctuation. An empty text counts one, as in datatrove."""
    nlp = english()
    doc = nlp.get_pipe("sentencizer")(nlp.tokenizer(text))
    return max(sum(1 for _ in doc.sents), 1)
