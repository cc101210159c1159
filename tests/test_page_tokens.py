"""The Tokens page through Streamlit's AppTest, on a tiny seeded model (Shakespeare tokenizer)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from streamlit.testing.v1 import AppTest

from gpt_core import tokenlab as tl
from gpt_core.tokenizer import get_tokenizer
from ui import state

PAGE = "app_pages/tokens.py"
NAMES = ["shakespeare_bpe", "r50k_base", "cl100k_base", "o200k_base"]
SAFE_TAGS = {"style", "div", "span", "br", "b", "code"}  # every tag the page's own HTML uses


class Parsed(HTMLParser):
    """The tags a browser would create from an HTML string, and its text."""

    def __init__(self, body: str):
        super().__init__()
        self.tags: set[str] = set()
        self.text = ""
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)

    def handle_data(self, data):
        self.text += data


def open_tokens(prompt: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    if prompt is not None:
        at.text_area(key="prompt").set_value(prompt)
    return at.switch_page(PAGE).run()


def html_bodies(at: AppTest) -> list[str]:
    return [el.value for el in at.html]


def comparison(at: AppTest) -> str:
    return next(b for b in html_bodies(at) if 'class="tl-row" data-encoding=' in b)


def all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [Parsed(b).text for b in html_bodies(at)]
    parts += [el.value for kind in ("info", "warning") for el in at.get(kind)]
    return "\n".join(parts)


def ok(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error


def test_four_encodings_side_by_side_with_counts_and_a_takeaway(tiny_model_dir):
    text = "你好，世界！Tokenization 🙂"
    at = open_tokens(text)
    ok(at)
    body = comparison(at)
    for name in NAMES:
        n = len(get_tokenizer(name).encode(text))
        assert f'data-encoding="{name}"' in body
        assert f"· {n:,} tokens ·" in Parsed(body).text
    counts = {name: len(get_tokenizer(name).encode(text)) for name in NAMES}
    best = min(counts, key=counts.get)
    pct = f"{1 - counts[best] / counts['r50k_base']:.0%}"
    takeaway = next(m.value for m in at.markdown if "fewer tokens than" in m.value)
    assert get_tokenizer(best).label in takeaway and pct in takeaway and "r50k_base" in takeaway
    assert "the loaded model's tokenizer" in Parsed(body).text.split("GPT-2")[0]


def test_show_ids_and_show_bytes_toggles_add_them_under_each_chip(tiny_model_dir):
    at = open_tokens("你好")
    assert "tl-sub" not in comparison(at)
    at.toggle(key="tokens.ids").set_value(True).run()
    ok(at)
    ids = get_tokenizer("r50k_base").encode("你好")
    assert all(f'<span class="tl-sub">{i}</span>' in comparison(at) for i in ids)
    at.toggle(key="tokens.bytes").set_value(True).run()
    assert '<span class="tl-sub">E4 BD</span>' in comparison(at)  # GPT-2's first token: half of 你


def test_partial_characters_are_grouped_and_explained(tiny_model_dir):
    at = open_tokens("你好 🙂")
    ok(at)
    assert "= 你" in Parsed(comparison(at)).text and "tl-part" in comparison(at)
    assert any("hold only part of a character" in m.value and "r50k_base" in m.value for m in at.markdown)
    assert at.dataframe, "the table of split characters is missing"
    ascii_only = open_tokens("plain words")
    assert any("every token holds whole characters" in c.value for c in ascii_only.caption)


def test_example_buttons_replace_the_prompt(tiny_model_dir):
    at = open_tokens()
    for name in ("english", "chinese", "code", "html"):
        at.button(key=f"tokens.example.{name}").click().run()
        ok(at)
        assert at.text_area(key="prompt").value == at.session_state["prompt"] != ""
    assert at.text_area(key="prompt").value.startswith("<img")


def test_html_in_the_prompt_is_shown_as_text_and_never_becomes_markup(tiny_model_dir):
    evil = "<img src=x onerror=alert(1)> <script>alert(2)</script> **bold** [link](javascript:alert(3))"
    at = open_tokens(evil)
    ok(at)
    for body in html_bodies(at):
        assert Parsed(body).tags <= SAFE_TAGS, Parsed(body).tags
    assert "<img src=x onerror=alert(1)>" in Parsed(comparison(at)).text.replace("⋅", " ")
    at.text_input(key="tokens.span").input("<img src=x>").run()
    ok(at)
    for body in html_bodies(at):
        assert Parsed(body).tags <= SAFE_TAGS
    assert all("<img" not in m.value and "javascript:" not in m.value for m in at.markdown)


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("", "Type some text in the sidebar"),
        ("  \n\t ", "only whitespace"),
        ("zero\u200bwidth \u202eright-to-left", "U+200B ZERO WIDTH SPACE"),
        ("typed <|endoftext|> here", "read as plain text"),
    ],
    ids=["empty", "whitespace", "invisible", "special"],
)
def test_odd_input_gets_a_clear_message(tiny_model_dir, prompt, expected):
    at = open_tokens(prompt)
    ok(at)
    assert expected in all_text(at)


def test_lone_surrogates_are_replaced_and_named(tiny_model_dir, monkeypatch):
    # Streamlit's widgets cannot carry a lone surrogate (the browser's UTF-8 replaces it first), so the
    # page is handed one directly, as a paste that reached it some other way would be.
    monkeypatch.setattr(state, "prompt", lambda: "cut \ud83d emoji \ud83d\ude42")
    at = open_tokens()
    ok(at)
    warning = next(w.value for w in at.warning if "U+FFFD" in w.value)
    assert "1 character(s)" in warning and "U+D83D at position 4" in warning and "lone surrogates" in warning
    assert "1 surrogate pair(s)" in all_text(at)
    assert "\ufffd" in Parsed(comparison(at)).text and "🙂" in Parsed(comparison(at)).text
    assert not any("\ud83d" in body for body in html_bodies(at))


def test_a_100k_character_text_shows_its_start_and_says_how_much_is_left_out(tiny_model_dir, monkeypatch):
    text = ("To be, or not to be: 你好 🙂 that is the question.\n" * 2500)[:100_000]
    monkeypatch.setattr(state, "prompt", lambda: text)  # the sidebar's box takes 20,000 characters at most
    at = open_tokens()
    ok(at)
    assert f"Your text has 100,000 characters. The chips show the first {tl.SHOWN_CHARS:,}" in all_text(at)
    n = len(get_tokenizer("o200k_base").encode(text))
    assert f"· {n:,} tokens ·" in Parsed(comparison(at)).text


def test_bpe_replay_steps_forward_and_back_to_tiktokens_tokens(tiny_model_dir):
    at = open_tokens("unbelievably")
    ok(at)
    at.selectbox(key="tokens.bpe_tok").set_value("r50k_base").run()
    at.text_input(key="tokens.span").input("tokenization").run()
    ok(at)
    replay = tl.replay_bpe(get_tokenizer("r50k_base"), "tokenization")
    n = len(replay.steps)
    assert at.slider(key="tokens.step").value == 0 and at.slider(key="tokens.step").max == n
    assert "Start:" in all_text(at)
    at.button(key="tokens.next").click().run()
    assert at.slider(key="tokens.step").value == 1
    first = replay.steps[0].merged
    assert f"Step 1 of {n}:" in all_text(at) and f"is {first.rank:,}" in all_text(at)
    at.button(key="tokens.prev").click().run()
    assert at.slider(key="tokens.step").value == 0
    at.slider(key="tokens.step").set_value(n).run()
    ok(at)
    done = all_text(at)
    assert f"ids {list(replay.ids)}" in done and "the same tokens" in done
    assert at.button(key="tokens.next").disabled


def test_picking_a_word_from_the_text_replays_it(tiny_model_dir):
    at = open_tokens("a cat saw antidisestablishmentarianism")
    pick = at.selectbox(key="tokens.pick")
    assert pick.options[0] == "antidisestablishmentarianism"
    pick.set_value("antidisestablishmentarianism").run()
    ok(at)
    assert at.text_input(key="tokens.span").value == "antidisestablishmentarianism"
    assert at.slider(key="tokens.step").value == 0


def test_replay_span_follows_the_text_until_the_user_types_one(tiny_model_dir):
    at = open_tokens("a cat saw antidisestablishmentarianism")
    assert at.text_input(key="tokens.span").value == "antidisestablishmentarianism"
    at.text_area(key="prompt").set_value("unbelievably").run()
    assert at.text_input(key="tokens.span").value == "unbelievably"
    at.text_input(key="tokens.span").input("mine").run()
    at.text_area(key="prompt").set_value("something else entirely").run()
    ok(at)
    assert at.text_input(key="tokens.span").value == "mine"


def test_long_span_is_cut_to_64_bytes_and_says_so(tiny_model_dir):
    at = open_tokens("x")
    at.text_input(key="tokens.span").input("你" * 30).run()
    ok(at)
    assert any("at most 64 bytes" in c.value for c in at.caption)


def test_pretokenization_shows_each_pattern_with_its_chunk_count(tiny_model_dir):
    text = "Numbers 1234567 and camelCase"
    at = open_tokens(text)
    ok(at)
    toks = tl.lab_tokenizers(get_tokenizer("shakespeare_bpe"))
    for ch in tl.pretokenize(text, toks):
        assert f"{' and '.join(ch.labels)} · {ch.n_chunks:,} chunks" in all_text(at)
    assert len(at.code) == 3  # the three patterns, in the expander


def test_vocabulary_lookup_by_text_and_by_id(tiny_model_dir):
    at = open_tokens("x")
    at.selectbox(key="tokens.vocab_tok").set_value("r50k_base").run()
    at.text_input(key="tokens.vocab_text").input(" the").run()
    ok(at)
    the = get_tokenizer("r50k_base").encode(" the")[0]
    assert any(f"Token {the:,}" in m.value for m in at.markdown)
    assert "Training made it by merging" in all_text(at)
    tables = [d.value for d in at.dataframe if "bytes" in d.value.columns]  # vocabulary entries
    assert len(tables) == 1  # the looked-up token's neighbours, it marked ◀
    assert tables[0][tables[0][""] == "◀"]["id"].tolist() == [the]
    at.text_input(key="tokens.vocab_text").input("tokenisation").run()  # not one token: how it is encoded
    tables = [d.value for d in at.dataframe if "bytes" in d.value.columns]
    assert len(tables) == 1 and "" not in tables[0].columns  # nothing to mark, so no empty marker column
    assert tables[0]["id"].tolist() == get_tokenizer("r50k_base").encode("tokenisation")
    at.radio(key="tokens.vocab_mode").set_value("id").run()
    at.text_input(key="tokens.vocab_id").input("50256").run()
    ok(at)
    assert any("Token 50,256" in m.value and "special token" in m.value for m in at.markdown)
    at.text_input(key="tokens.vocab_id").input("hello").run()
    assert "An id is a whole number" in all_text(at)
    at.text_input(key="tokens.vocab_id").input("60000").run()
    assert "No token has id 60000" in all_text(at)


def test_special_tokens_table_and_csv_download(tiny_model_dir):
    at = open_tokens("x")
    ok(at)
    assert any("plain text" in m.value for m in at.markdown)
    frames = [df.value for df in at.dataframe]
    specials = next(f for f in frames if "<|endoftext|> (special) id" in f.columns)
    assert list(specials["<|endoftext|> (special) id"]) == [1023, 50256, 100257, 199999]
    assert at.get("download_button"), "the CSV download button is missing"
