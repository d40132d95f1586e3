"""Property tests: decode(encode(x)) == x for any text, and the ids stay in range."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenizer import EOS_ID
from tokenizer.bpe import sentence_chunks

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Pieces that stress the normalizer: whitespace runs, controls, emoji (with ZWJ
# and skin tones), CJK, combining marks, sentencepiece's own space symbol.
TRICKY = st.sampled_from([
    " ", "  ", "\t", "\n", "\r\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u00a0", "\u3000",
    "\u2581", "▁▁", "😀", "👩‍👩‍👧", "👍🏽", "🇫🇷", "中文", "日本語", "한국어", "e\u0301", "ﬁ", "Ⅻ", "\ufeff",
    "\u200b", "<|endoftext|>", "<unk>", "<0x41>", "the", " and", "ing",
])
TEXT = st.one_of(st.text(), st.lists(st.one_of(TRICKY, st.text(max_size=5)), max_size=30).map("".join))


@SETTINGS
@given(TEXT)
def test_round_trip(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert all(2 + 8 <= i < tok.vocab_size for i in ids)  # never <unk>, EOS or a reserved token


@SETTINGS
@given(st.lists(TEXT, max_size=8))
def test_batch_round_trip(tok, texts):
    batch = tok.encode_batch(texts)
    assert [tok.decode(ids) for ids in batch] == texts
    # documents joined by EOS decode to their concatenation
    joined = [i for ids in batch for i in ids + [EOS_ID]]
    assert tok.decode(joined) == "".join(texts)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(TRICKY, st.text(max_size=40)), max_size=40).map("".join), st.integers(16, 200))
def test_long_training_texts_are_cut_not_dropped(text, max_bytes):
    """Sentencepiece skips sentences over its length limit; we cut them (at line ends when possible) instead."""
    chunks = list(sentence_chunks(text, max_bytes))
    assert "".join(chunks) == text
    assert all(0 < len(c.encode("utf-8")) <= max_bytes for c in chunks)
