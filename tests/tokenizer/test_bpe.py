import hashlib

import pytest

from cc2gpt.tokenizer import EOS_ID, EOS_PIECE, Tokenizer, train_tokenizer
from cc2gpt.tokenizer.bpe import RESERVED_PIECES


def test_special_ids_and_facts(tok, model_bytes):
    assert tok.vocab_size == 512
    assert tok.id_to_piece(0) == "<unk>"
    assert tok.eos_id == EOS_ID == 1 and tok.id_to_piece(1) == EOS_PIECE
    assert [tok.id_to_piece(2 + i) for i in range(len(RESERVED_PIECES))] == list(RESERVED_PIECES)
    assert tok.id_to_piece(2 + len(RESERVED_PIECES)) == "<0x00>"
    assert tok.dtype == "uint16"
    assert tok.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert tok.proto == model_bytes


def test_training_is_deterministic(corpus, model_bytes):
    assert train_tokenizer(corpus, vocab_size=512) == model_bytes


def test_from_file(tmp_path, tok):
    path = tmp_path / "tokenizer.model"
    path.write_bytes(tok.proto)
    again = Tokenizer.from_file(path)
    assert again.sha256 == tok.sha256 and again.encode("To be, or not") == tok.encode("To be, or not")


@pytest.mark.parametrize("name", [
    "lm_corpus/gutenberg/austen-emma.txt",
    "lm_corpus/state_union/1945-Truman.txt",
    "lm_corpus/gitenberg/pg972_the-devil-s-dictionary.txt",  # CRLF, Windows-1252
])
def test_round_trip_on_real_files(tok, data, name):
    text = (data / name).read_bytes().decode("utf-8", errors="replace")[:200_000]
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert 0 not in ids and EOS_ID not in ids  # byte fallback: never <unk>; EOS only from the writer


@pytest.mark.parametrize("text", [
    "", " ", "  leading and trailing  ", "tabs\tand\t\ttabs", "a\n\n\nb\r\n", "\x00\x01\x1b[0m\x7f",
    "emoji 😀👩‍👩‍👧 and CJK 中文 日本語 한국어", "\u2581 literal lower one eighth block \u2581\u2581",
    "<|endoftext|> is text here, not EOS", "\ufeff\u200b\u00a0zero width and nbsp", "ﬁ ligature Ⅻ ①",
])
def test_round_trip_edge_cases(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert EOS_ID not in ids and 0 not in ids


def test_encode_batch_matches_encode(tok, corpus):
    texts = corpus[:200] + ["x\u2581y", ""]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
    assert tok.encode_batch(texts, num_threads=1) == tok.encode_batch(texts)


def test_eos_decodes_to_nothing(tok):
    assert tok.decode(tok.encode("one") + [EOS_ID] + tok.encode("two")) == "onetwo"


def test_compresses_english(tok, corpus):
    text = "\n\n".join(corpus[:300])
    # 1.88 bytes per token with 512 pieces, 266 of them bytes and specials
    assert len(text.encode()) / len(tok.encode(text)) > 1.7


def test_too_small_vocab_is_a_clear_error(corpus):
    with pytest.raises(ValueError, match="vocab_size=100 is too small: .* use at least 267"):
        train_tokenizer(corpus[:50], vocab_size=100)


def test_a_vocab_short_of_characters_spells_rare_ones_in_bytes():
    """More distinct characters than a small vocabulary holds at the default coverage:
    it trains at a lower coverage instead of failing, and stays lossless."""
    common = "the quick brown fox jumps over the lazy dog. " * 40
    rare = "".join(chr(c) for c in range(0x3041, 0x3041 + 60))  # 60 kana, once each
    texts = [common + rare[i:i + 3] for i in range(0, 60, 3)]
    assert 2 + len(RESERVED_PIECES) + 256 + len(set("".join(texts))) > 300  # all would not fit
    tok = Tokenizer.from_bytes(train_tokenizer(texts, vocab_size=300))
    assert tok.vocab_size <= 300
    assert all(tok.decode(tok.encode(t)) == t for t in texts)


def test_not_a_cc2gpt_model_is_rejected(corpus):
    import io

    import sentencepiece as spm
    m = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus[:500]), model_writer=m,
                                   vocab_size=300, model_type="bpe", minloglevel=2)
    with pytest.raises(ValueError, match="not a cc2gpt tokenizer"):
        Tokenizer(m.getvalue())


def test_long_single_line_documents_are_trained_on():
    """A 200 KB one-line document (over sentencepiece's sentence limit) still shapes the vocabulary."""
    tok = Tokenizer(train_tokenizer(["quixotic zebra " * 14000], vocab_size=300))
    assert tok.encode(" quixotic zebra")[:1] != tok.encode(" q")[:1]
    assert len(tok.encode("quixotic zebra " * 10)) < 40
