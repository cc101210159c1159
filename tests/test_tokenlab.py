"""The tokenizer lab's math (gpt_core.tokenlab) and HTML (viz.tokenlab), without Streamlit."""

from __future__ import annotations

import csv
import io
import random
from html.parser import HTMLParser

import pytest

from gpt_core import tokenlab as tl
from gpt_core.tokenizer import ENDOFTEXT, Tokenizer, _valid_unicode, get_tokenizer
from viz import tokenlab as vt

NAMES = ["shakespeare_bpe", "r50k_base", "cl100k_base", "o200k_base"]

FIXED = [
    "hello", " hello", "Hello, world!", "tokenization", " unbelievably", "antidisestablishmentarianism",
    "don't", "we'll", "IT'S", "camelCaseWord", "HTTPServer", "x", "a", " ", "  ", "\n", "\n\n", " \n ", "\t\tx",
    "12345678", " 2024", "3.14159", "$100,000", "!!!", "...", "?!", "<|endoftext|>", "<img src=x onerror=alert(1)>",
    "你好", "语言模型", "こんにちは", "안녕하세요", "Привет", "مرحبا", "שלום", "Café", "naïve", "e\u0301",
    "🙂", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "a\u200bb", "\u200f\u05e9\u200e", "\x00\x07\x1b[31m", "\ufeffbom", "\ufffd",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "    def f(x):\n        return x", "ROMEO:\nBut soft", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ﬁ", "Å", "½ ⅓ ²",
]
POOL = [
    "the", " the", "ing", " token", "ization", "Q", "ZZ", "x", "0", "42", "999", " ", "  ", "\n", "\t", "\r\n",
    ",", ".", "'s", "'ll", "!?", "--", "()", "{}", "<", ">", "|", "你", "好", "模型", "🙂", "👍", "🏽", "\u200d",
    "é", "ü", "ß", "ñ", "\u0301", "Ж", "ع", "ש", "\u200b", "\x00", "\x7f", "ア", "한", "€", "™", "—",
]


def varied_strings(n: int = 240, seed: int = 0) -> list[str]:
    """``FIXED`` plus seeded random mixes of words, digits, punctuation, whitespace and many scripts."""
    rng = random.Random(seed)
    return FIXED + ["".join(rng.choice(POOL) for _ in range(rng.randint(1, 14))) for _ in range(n)]


class Parsed(HTMLParser):
    """The tags a browser would create from an HTML string, and its text."""

    def __init__(self, body: str):
        super().__init__()
        self.tags: list[str] = []
        self.text = ""
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text += data


# --- BPE replay -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_bpe_replay_ends_at_exactly_tiktokens_tokens(name):
    tok = get_tokenizer(name)
    strings = varied_strings()
    assert len(strings) >= 290
    for s in strings:
        replay = tl.replay_bpe(tok, s)
        assert list(replay.ids) == tok.encode(replay.span), (name, s)
        assert [p for parts in replay.final for p in parts] == [tok.token_bytes(i) for i in replay.ids]


@pytest.mark.parametrize("name", NAMES)
def test_each_replay_step_merges_the_lowest_rank_pair(name):
    tok = get_tokenizer(name)
    replay = tl.replay_bpe(tok, " tokenization, 你好 🙂")
    assert replay.start == tuple(tuple(bytes([b]) for b in chunk) for chunk in replay.chunks)
    state = replay.start
    for step in replay.steps:
        assert step.before == state
        ranked = [p for p in step.pairs if p.rank is not None]
        assert step.merged is not None and step.merged.rank == min(p.rank for p in ranked)
        assert step.merged.rank == tok.mergeable_ranks[step.merged.left + step.merged.right]
        assert b"".join(b"".join(c) for c in step.after) == b"".join(b"".join(c) for c in step.before)
        state = step.after
    assert not [p for p in tl._pairs(replay.final, tok.mergeable_ranks) if p.rank is not None]
    assert replay.state(0) == replay.start and replay.state(len(replay.steps)) == replay.final


def test_replay_never_merges_across_chunks():
    tok = get_tokenizer("r50k_base")
    replay = tl.replay_bpe(tok, "hello world")
    assert replay.chunks == (b"hello", b" world")
    assert all(len(step.after) == 2 for step in replay.steps)
    assert replay.final == ((b"hello",), (b" world",))


def test_replay_applies_tiktokens_whole_chunk_shortcut():
    # "abcd" is a token, but from bytes only "bc" can merge: merging stops at a + bc + d.
    ranks = {bytes([b]): b for b in range(256)} | {b"bc": 256, b"abcd": 257}
    tok = Tokenizer.from_ranks("toy", ranks)
    assert tok.encode("abcd") == [257]
    replay = tl.replay_bpe(tok, "abcd")
    assert replay.whole == (True,)
    assert replay.steps[0].merged.left + replay.steps[0].merged.right == b"bc"
    last = replay.steps[-1]
    assert last.merged is None and last.shortcut_chunk == 0
    assert last.before == ((b"a", b"bc", b"d"),) and last.after == ((b"abcd",),)
    assert replay.ids == (257,)


def test_replay_span_is_cut_to_64_bytes_on_a_character_boundary():
    tok = get_tokenizer("cl100k_base")
    replay = tl.replay_bpe(tok, "你" * 30)  # 90 bytes
    assert replay.span == "你" * 21 and replay.cut_bytes == 90 - 63
    assert len(replay.span.encode()) <= tl.REPLAY_MAX_BYTES


def test_replay_suggestions_are_words_of_the_text_with_many_tokens_first():
    tok = get_tokenizer("r50k_base")
    words = tl.replay_suggestions(tok, "a cat saw antidisestablishmentarianism and a dog")
    assert words[0] == "antidisestablishmentarianism"
    assert set(words) <= set("a cat saw antidisestablishmentarianism and a dog".split())


# --- text cleaning ---------------------------------------------------------------------------------------


def test_lone_surrogates_are_replaced_and_reported_pairs_joined():
    text = "a\ud83db\ud83d\ude42c\udc00"
    clean = tl.clean_text(text)
    assert clean.text == "a\ufffdb🙂c\ufffd" == _valid_unicode(text)
    assert clean.replaced == ((1, "U+D83D"), (6, "U+DC00"))
    assert clean.joined == 1


def test_invisible_characters_are_reported_but_kept():
    clean = tl.clean_text("a\u200bb\u200b\u200fc\x07\n\t ")
    assert clean.text == "a\u200bb\u200b\u200fc\x07\n\t "
    assert clean.invisible[0] == ("U+200B", "ZERO WIDTH SPACE", 2)
    assert {cp for cp, _, _ in clean.invisible} == {"U+200B", "U+200F", "U+0007"}
    assert tl.clean_text("plain text").invisible == ()


# --- comparison, bytes and partial characters ------------------------------------------------------------


def test_partial_tokens_are_grouped_into_the_characters_they_make():
    enc = tl.encode(get_tokenizer("r50k_base"), "你好 ok")
    assert b"".join(t.data for t in enc.tokens) == "你好 ok".encode()
    assert [g.text for g in enc.groups] == ["你", "好"]
    for g in enc.groups:
        members = enc.tokens[g.first : g.last + 1]
        assert all(t.partial and t.text == "\ufffd" * len(t.text) for t in members)
        assert b"".join(t.data for t in members) == g.data
    assert not any(t.partial for t in enc.tokens if t.text in {" ok", "ok"})


def test_partial_flags_follow_utf8_character_boundaries():
    pieces = [b"a\xe4", b"\xbd", b"\xa0b", b"c", b"\xf0\x9f", b"\x99\x82"]
    assert tl.partial_flags(pieces) == [True, True, True, False, True, True]
    tokens = [tl.Token(i, i, p, p.decode("utf-8", "replace"), f) for i, (p, f) in
              enumerate(zip(pieces, tl.partial_flags(pieces), strict=True))]
    assert [(g.first, g.last, g.text) for g in tl.char_groups(tokens)] == [(0, 2, "a你b"), (4, 5, "🙂")]


def test_ascii_text_has_no_partial_tokens_in_any_encoding():
    for name in NAMES:
        enc = tl.encode(get_tokenizer(name), "Plain ASCII text, with numbers 123.")
        assert enc.n_partial == 0 and enc.groups == ()


def test_comparison_counts_every_token_and_puts_the_model_first():
    model = get_tokenizer("shakespeare_bpe")
    data = tl.build_lab("The quick brown fox, 你好 🙂", model)
    names = [e.name for e in data.comparison.encodings]
    assert names == ["shakespeare_bpe", "r50k_base", "cl100k_base", "o200k_base"]
    assert [e.is_model for e in data.comparison.encodings] == [True, False, False, False]
    for e in data.comparison.encodings:
        assert e.n_tokens == len(get_tokenizer(e.name).encode("The quick brown fox, 你好 🙂")) == len(e.tokens)
        assert e.chars_per_token == pytest.approx(e.n_chars / e.n_tokens)


def test_gpt2_model_is_not_listed_twice():
    gpt2 = get_tokenizer("r50k_base")
    assert [t.name for t in tl.lab_tokenizers(gpt2)] == ["r50k_base", "cl100k_base", "o200k_base"]


def test_long_text_shows_its_start_and_counts_all_of_it():
    text = ("To be, or not to be: 你好 🙂 that is the question.\n" * 2500)[:100_000]
    data = tl.build_lab(text, get_tokenizer("shakespeare_bpe"))
    assert data.comparison.n_chars == 100_000 and data.comparison.shown_chars == tl.SHOWN_CHARS
    for e in data.comparison.encodings:
        assert e.n_tokens == len(get_tokenizer(e.name).encode(text))
        assert e.cut and 0 < len(e.tokens) <= tl.SHOWN_TOKENS
        shown = b"".join(t.data for t in e.tokens)
        assert text.encode().startswith(shown)
        assert len(shown) >= len(text[: tl.SHOWN_CHARS].encode()) or len(e.tokens) == tl.SHOWN_TOKENS


def test_takeaway_compares_the_fewest_tokens_with_gpt2():
    data = tl.build_lab("你好，世界！语言模型把文字切成词元。", get_tokenizer("shakespeare_bpe"))
    take = tl.takeaway(data.comparison)
    counts = {e.name: e.n_tokens for e in data.comparison.encodings}
    assert take.base.name == "r50k_base"
    assert take.best.n_tokens == min(counts.values())
    assert take.fewer == pytest.approx(1 - min(counts.values()) / counts["r50k_base"])


def test_takeaway_is_none_when_every_encoding_agrees():
    data = tl.build_lab("a", get_tokenizer("shakespeare_bpe"))
    assert tl.takeaway(data.comparison) is None


# --- pre-tokenization --------------------------------------------------------------------------------------


def test_pretokenize_groups_encodings_by_pattern_and_covers_the_text():
    text = "Numbers 1234567 and camelCase\n  indented"
    toks = tl.lab_tokenizers(get_tokenizer("shakespeare_bpe"))
    chunkings = tl.pretokenize(text, toks)
    assert len(chunkings) == 3  # Shakespeare BPE shares GPT-2's pattern
    assert chunkings[0].labels == (toks[0].label, get_tokenizer("r50k_base").label)
    for ch in chunkings:
        assert "".join(ch.chunks) == text and ch.n_chunks == len(ch.chunks)
    gpt2, cl100k, o200k = (set(c.chunks) for c in chunkings)
    assert " 1234567" in gpt2 and {"123", "456", "7"} <= cl100k
    assert "Case" in o200k and "Case" not in cl100k


# --- vocabulary --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_lookup_by_id_gives_bytes_neighbours_and_the_merge_that_made_it(name):
    tok = get_tokenizer(name)
    found = tl.lookup(tok, " 700 ", by_id=True)
    assert found.entry.id == 700 and found.entry.data == tok.token_bytes(700)
    assert [e.id for e in found.neighbours] == list(range(695, 706))
    left, right = found.entry.made_from
    assert left + right == found.entry.data
    assert tok.mergeable_ranks[left] < 700 and tok.mergeable_ranks[right] < 700


def test_lookup_by_text_finds_the_token_or_says_how_it_splits():
    tok = get_tokenizer("cl100k_base")
    assert tl.lookup(tok, " the", by_id=False).entry.id == tok.encode(" the")[0]
    split = tl.lookup(tok, "antidisestablishmentarianism", by_id=False)
    assert split.entry is None and [e.id for e in split.encoded_as] == tok.encode("antidisestablishmentarianism")
    special = tl.lookup(tok, ENDOFTEXT, by_id=False).entry
    assert special.special and special.id == 100257


def test_lookup_explains_bad_queries():
    tok = get_tokenizer("cl100k_base")
    assert tl.lookup(tok, "abc", by_id=True).problem == "not_a_number"
    assert tl.lookup(tok, "  ", by_id=True).problem == "empty"
    assert tl.lookup(tok, "100256", by_id=True).problem == "no_such_id"  # the gap before the special ids
    assert tl.lookup(tok, "-3", by_id=True).problem == "no_such_id"
    assert tl.lookup(tok, "999999999", by_id=True).problem == "no_such_id"
    assert tl.lookup(tok, "", by_id=False).problem == "empty"
    assert tl.lookup(tok, "100257", by_id=True).entry.special


def test_vocab_sizes_add_up():
    for size in tl.vocab_sizes([get_tokenizer(n) for n in NAMES]):
        tok = get_tokenizer(size.name)
        assert 256 + size.n_merged == len(tok.mergeable_ranks)
        assert size.n_vocab == tok.n_vocab and size.n_special == len(tok.special_tokens)


# --- special tokens and export -----------------------------------------------------------------------------


def test_typed_special_token_is_plain_text_not_the_special_id():
    toks = [get_tokenizer(n) for n in NAMES]
    for view, tok in zip(tl.special_view(toks), toks, strict=True):
        assert view.special_id == tok.special_tokens[ENDOFTEXT]
        assert [e.id for e in view.typed] == tok.encode(ENDOFTEXT) != [view.special_id]
        assert tok.encode(ENDOFTEXT, allow_special=True) == [view.special_id]
    assert tl.specials_in_text("a <|endoftext|> b <|endoftext|>", toks) == {ENDOFTEXT: 2}


def test_csv_table_has_every_token_with_exact_bytes():
    text = "Hi 你好 🙂\n<b>x</b>"
    toks = [get_tokenizer(n) for n in NAMES]
    rows = list(csv.DictReader(io.StringIO(tl.token_table_csv(text, toks))))
    assert tuple(rows[0]) == tl.CSV_COLUMNS
    for tok in toks:
        mine = [r for r in rows if r["encoding"] == tok.name]
        assert [int(r["id"]) for r in mine] == tok.encode(text)
        assert [int(r["position"]) for r in mine] == list(range(len(mine)))
        assert b"".join(bytes.fromhex(r["bytes"]) for r in mine) == text.encode()


# --- HTML --------------------------------------------------------------------------------------------------


def test_chips_escape_html_and_show_invisible_characters():
    text = "<img src=x onerror=alert(1)>\u202eabc\u200b"
    enc = tl.encode(get_tokenizer("o200k_base"), text)
    body = vt.comparison_html([enc], ["<b>header</b>"])
    parsed = Parsed(body)
    assert set(parsed.tags) == {"div", "span"}
    assert "<img src=x onerror=alert(1)>" in parsed.text.replace("⋅", " ")
    assert "<b>header</b>" in parsed.text
    assert "\u202e" not in body and "U+202E" in parsed.text and "U+200B" in parsed.text


def test_chips_show_ids_bytes_and_partial_groups_on_request():
    enc = tl.encode(get_tokenizer("r50k_base"), "你好")
    plain = vt.comparison_html([enc], ["r50k"])
    rich = vt.comparison_html([enc], ["r50k"], show_ids=True, show_bytes=True)
    assert plain.count('class="tl-chip ') == len(enc.tokens) == rich.count('class="tl-chip ')
    assert "tl-sub" not in plain
    for t in enc.tokens:
        assert f">{t.id}<" in rich and f">{tl.hex_bytes(t.data)}<" in rich
    assert plain.count('class="tl-group"') == 2 and "= 你" in Parsed(plain).text
    assert plain.count("tl-part") == len(enc.tokens)


def test_neighbouring_chips_have_different_colours():
    enc = tl.encode(get_tokenizer("cl100k_base"), "one two three four five six seven eight nine")
    colours = [c.split()[2] for c in vt.comparison_html([enc], ["x"]).split('class="')[1:] if c.startswith("tl-chip ")]
    assert len(colours) == len(enc.tokens)
    assert all(a != b for a, b in zip(colours, colours[1:], strict=False))


def test_template_html_escapes_values_but_keeps_the_templates_marks():
    body = vt.template_html("**Step {k}:** `{left}` + `{right}`", k=3, left="<script>", right="**")
    parsed = Parsed(body)
    assert parsed.tags == ["div", "b", "code", "code"]
    assert "<script>" in parsed.text and "**" in parsed.text


def test_replay_html_marks_the_merged_pair_and_the_new_token():
    tok = get_tokenizer("r50k_base")
    replay = tl.replay_bpe(tok, "tokenization")
    body = vt.step_html(replay.steps[0], tok.mergeable_ranks)
    assert body.count("tl-pick") == 2 and body.count("tl-new") == 1
    pairs = vt.pairs_html(replay.steps[0].pairs, replay.steps[0].merged)
    assert pairs.count("tl-best") == 1
    assert '<span class="tl-hex">E4</span>' in vt.state_html(((b"\xe4",),), tok.mergeable_ranks)  # partial: hex
