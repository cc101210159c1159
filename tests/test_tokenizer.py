"""Tokenizers: offline loading, hash checks, round trips, special tokens, and the BPE trainer."""

from __future__ import annotations

import gzip
import shutil
from itertools import pairwise
from pathlib import Path

import pytest
import regex

from gpt_core.bpe import (
    GPT2_PAT_STR,
    build_encoding,
    learn_merges,
    parse_tiktoken_bpe,
    save_tiktoken_bpe,
    train_bpe,
)
from gpt_core.corpus import strip_gutenberg
from gpt_core.tokenizer import (
    ASSETS_DIR,
    SPECS,
    TOKENIZERS_DIR,
    Tokenizer,
    available_tokenizers,
    get_tokenizer,
    load_tokenizer,
)

NAMES = ["shakespeare_bpe", "r50k_base", "cl100k_base", "o200k_base"]

ROUND_TRIP_TEXTS = {
    "ascii": "Hello, world! It's 2024; x = y * 3.14 -- done.\n\tIndented  twice.",
    "chinese": "你好世界。语言模型把文字切成词元。",
    "emoji": "Family 👨‍👩‍👧‍👦, flag 🇫🇷, skin tone 👍🏽, and 🙂",
    "control": "bell\x07 null\x00 escape\x1b[31m tab\t cr\r\n del\x7f",
    # Hebrew "shalom" and Arabic "marhaba" between direction marks (escaped: ruff's RUF001).
    "rtl": "\u200f\u05e9\u05dc\u05d5\u05dd\u200e and \u202b\u0645\u0631\u062d\u0628\u0627\u202c",
    "zero_width": "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
    "combining": "e\u0301 vs \u00e9, Å, ﬁ ligature",
    "special_as_text": "before <|endoftext|> after <|fim_prefix|>",
}

SMALL_TEXT = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.\n"
    "To be, or not to be, that is the question: whether 'tis nobler in the mind\n"
    "to suffer the slings and arrows of outrageous fortune, or to take arms.\n"
) * 3 + "aaaa aaa aa a abcabc bcbc 12345 don't we'll"


def replay_bpe(text: str, ranks: dict[bytes, int], pat_str: str) -> list[int]:
    """Textbook BPE, naively: per chunk, merge the lowest-rank neighbouring pair until none is left.

    As tiktoken does, a chunk that is itself a token is kept whole.
    """
    ids: list[int] = []
    for chunk in regex.findall(pat_str, text):
        data = chunk.encode("utf-8")
        parts = [data] if data in ranks else [bytes([b]) for b in data]
        while True:
            candidates = [
                (ranks[a + b], i) for i, (a, b) in enumerate(pairwise(parts)) if a + b in ranks
            ]
            if not candidates:
                break
            _, i = min(candidates)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        ids.extend(ranks[p] for p in parts)
    return ids


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS.values(), ids=ROUND_TRIP_TEXTS.keys())
def test_decode_inverts_encode(name: str, text: str) -> None:
    tok = get_tokenizer(name)
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("name", NAMES)
def test_typed_endoftext_is_plain_text_unless_allowed(name: str) -> None:
    tok = get_tokenizer(name)
    ids = tok.encode("<|endoftext|>")
    assert len(ids) > 1
    assert tok.eot_token not in ids
    assert tok.encode("<|endoftext|>", allow_special=True) == [tok.eot_token]


@pytest.mark.parametrize("name", NAMES)
def test_lone_surrogates_never_raise(name: str) -> None:
    tok = get_tokenizer(name)
    assert tok.decode(tok.encode("a\ud800b\udfffc")) == "a\ufffdb\ufffdc"
    # A surrogate pair given as two code points is the character it encodes.
    assert tok.encode("\ud83d\ude00") == tok.encode("😀")


@pytest.mark.parametrize(
    ("name", "text", "ids"),
    [
        ("r50k_base", "hello world", [31373, 995]),
        ("gpt2", "hello world", [31373, 995]),
        ("cl100k_base", "hello world", [15339, 1917]),
        ("o200k_base", "hello world", [24912, 2375]),
        ("r50k_base", "<|endoftext|>", [27, 91, 437, 1659, 5239, 91, 29]),
    ],
)
def test_known_token_ids(name: str, text: str, ids: list[int]) -> None:
    assert get_tokenizer(name).encode(text) == ids


@pytest.mark.parametrize(
    ("name", "n_vocab", "eot"),
    [
        ("shakespeare_bpe", 1024, 1023),
        ("r50k_base", 50257, 50256),
        ("cl100k_base", 100277, 100257),
        ("o200k_base", 200019, 199999),
    ],
)
def test_vocabulary_sizes_and_endoftext(name: str, n_vocab: int, eot: int) -> None:
    tok = get_tokenizer(name)
    assert (tok.n_vocab, tok.eot_token) == (n_vocab, eot)
    assert tok.token_bytes(eot) == b"<|endoftext|>"


def test_shakespeare_bpe_ranks_are_bytes_then_merges() -> None:
    ranks = get_tokenizer("shakespeare_bpe").mergeable_ranks
    assert sorted(ranks.values()) == list(range(1023))
    assert all(ranks[bytes([b])] == b for b in range(256))


def test_gpt2_is_an_alias_of_r50k_base() -> None:
    assert get_tokenizer("gpt2") is get_tokenizer("r50k_base")
    assert get_tokenizer("gpt2").name == "r50k_base"


def test_available_tokenizers_lists_the_shipped_ones() -> None:
    assert available_tokenizers() == NAMES
    for name in NAMES:
        assert (TOKENIZERS_DIR / SPECS[name].filename).is_file()


def test_unknown_tokenizer_name_is_a_value_error_listing_known_names() -> None:
    with pytest.raises(ValueError, match=r"known tokenizers are: .*cl100k_base"):
        get_tokenizer("p50k_base")


def test_token_strs_gives_one_string_per_token() -> None:
    tok = get_tokenizer("r50k_base")
    ids = tok.encode("hello 世界")
    strs = tok.token_strs(ids)
    assert len(strs) == len(ids)
    assert tok.token_strs(tok.encode("hello world")) == ["hello", " world"]
    assert "\ufffd" in "".join(tok.token_strs(tok.encode("龘")))  # split inside one character


def test_token_bytes_of_an_unknown_id_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not in the shakespeare_bpe vocabulary"):
        get_tokenizer("shakespeare_bpe").token_bytes(5000)


def test_pretokenize_splits_words_and_spaces() -> None:
    tok = get_tokenizer("r50k_base")
    assert tok.pretokenize("Hello world, it's") == ["Hello", " world", ",", " it", "'s"]


def test_loading_from_an_intact_copy_works(tmp_path: Path) -> None:
    shutil.copy(TOKENIZERS_DIR / "shakespeare_bpe.tiktoken", tmp_path)
    tok = load_tokenizer("shakespeare_bpe", tokenizers_dir=tmp_path)
    assert tok.encode("To be") == get_tokenizer("shakespeare_bpe").encode("To be")


def test_tampered_rank_file_is_refused(tmp_path: Path) -> None:
    lines = (TOKENIZERS_DIR / "r50k_base.tiktoken").read_bytes().splitlines(keepends=True)
    token_a, _ = lines[300].split()
    token_b, _ = lines[301].split()
    lines[300], lines[301] = token_b + b" 300\n", token_a + b" 301\n"  # swap two ranks
    (tmp_path / "r50k_base.tiktoken").write_bytes(b"".join(lines))
    with pytest.raises(ValueError, match=r"r50k_base.tiktoken"):
        load_tokenizer("r50k_base", tokenizers_dir=tmp_path)


def test_tampered_gzipped_rank_file_is_refused(tmp_path: Path) -> None:
    wrong = (TOKENIZERS_DIR / "shakespeare_bpe.tiktoken").read_bytes()
    (tmp_path / "cl100k_base.tiktoken.gz").write_bytes(gzip.compress(wrong))
    with pytest.raises(ValueError, match=r"cl100k_base.tiktoken.gz"):
        load_tokenizer("cl100k_base", tokenizers_dir=tmp_path)
    (tmp_path / "cl100k_base.tiktoken.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"cl100k_base.tiktoken.gz"):
        load_tokenizer("cl100k_base", tokenizers_dir=tmp_path)


def test_specs_match_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    openai_public = pytest.importorskip("tiktoken_ext.openai_public")
    # The constructors would download the rank files; only their patterns and specials matter here.
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: {})
    for name in ["r50k_base", "cl100k_base", "o200k_base"]:
        reference = openai_public.ENCODING_CONSTRUCTORS[name]()
        assert SPECS[name].pat_str == reference["pat_str"]
        assert SPECS[name].special_tokens == reference["special_tokens"]


def test_trained_encoding_matches_a_naive_bpe_replay() -> None:
    ranks = train_bpe(SMALL_TEXT, 256 + 60, GPT2_PAT_STR)
    assert sorted(ranks.values()) == list(range(256 + 60))
    enc = build_encoding("small", ranks, GPT2_PAT_STR, {"<|endoftext|>": 316})
    for text in [SMALL_TEXT, "The fox is not the question.", "aaaaaaa bcbcabc"]:
        assert enc.encode_ordinary(text) == replay_bpe(text, ranks, GPT2_PAT_STR)
    assert enc.decode(enc.encode_ordinary(SMALL_TEXT)) == SMALL_TEXT


def test_tokenizer_from_trained_ranks() -> None:
    ranks = train_bpe(SMALL_TEXT, 300)
    tok = Tokenizer.from_ranks("small", ranks, special_tokens={"<|endoftext|>": 300})
    assert (tok.n_vocab, tok.eot_token) == (301, 300)
    assert tok.decode(tok.encode("To be, or not")) == "To be, or not"


def test_bpe_merges_the_most_frequent_pair_first() -> None:
    merges = learn_merges("ab ab ab ab cd cd", 258)
    assert [(m.left, m.right, m.count) for m in merges] == [(b"a", b"b", 4), (b" ", b"ab", 3)]
    assert [m.rank for m in merges] == [256, 257]


def test_bpe_training_is_deterministic_and_stops_when_out_of_pairs() -> None:
    assert train_bpe(SMALL_TEXT, 300) == train_bpe(SMALL_TEXT, 300)
    assert len(train_bpe("ab", 1000)) == 257
    with pytest.raises(ValueError, match="at least 256"):
        train_bpe("ab", 100)


def test_saved_rank_file_reads_back(tmp_path: Path) -> None:
    ranks = train_bpe(SMALL_TEXT, 280)
    save_tiktoken_bpe(ranks, tmp_path / "small.tiktoken")
    assert parse_tiktoken_bpe((tmp_path / "small.tiktoken").read_bytes()) == ranks


def test_strip_gutenberg_removes_header_and_footer() -> None:
    text = (
        "Project Gutenberg header\r\n*** START OF THIS EBOOK ***\r\n\r\nACT I.\r\n"
        "Enter KING.\r\n\r\n*** END OF THIS EBOOK ***\r\nlicence\r\n"
    )
    assert strip_gutenberg(text) == "ACT I.\nEnter KING."
    assert strip_gutenberg("\nNo markers here.\n\n") == "No markers here."


def test_corpus_excerpt_is_the_corpus_start_cut_at_a_line() -> None:
    excerpt = (ASSETS_DIR / "corpus" / "tiny_shakespeare_excerpt.txt").read_bytes()
    with open(ASSETS_DIR / "corpus" / "shakespeare.txt", "rb") as corpus:
        start = corpus.read(len(excerpt))
    assert excerpt == start
    assert excerpt.endswith(b"\n") and 90_000 < len(excerpt) <= 100_000
