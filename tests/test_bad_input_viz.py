"""Figures and HTML for hostile text: invisible characters are drawn as code points, direction overrides stay
inside the text they came in, and every case of tests/bad_input.py is escaped."""

from html.parser import HTMLParser

import pytest

from tests.bad_input import BY_NAME, CASES
from viz.tokens import axis_labels, chips_html, visible
from viz.uses import answer_html


class Text(HTMLParser):
    def __init__(self, body: str):
        super().__init__()
        self.tags, self.text, self.styles = [], "", []
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.styles += [v for a, v in attrs if a == "style"]

    def handle_data(self, data):
        self.text += data


def test_invisible_characters_are_drawn_as_their_code_point():
    assert visible("a\u200bb") == "a⟨U+200B⟩b"
    assert visible("\u202eabc\u202c") == "⟨U+202E⟩abc⟨U+202C⟩"
    assert visible("\x00\x1b\x7f\x85") == "⟨U+0000⟩⟨U+001B⟩⟨U+007F⟩⟨U+0085⟩"
    assert visible("\u00a0\u3000\ufeff") == "⟨U+00A0⟩⟨U+3000⟩⟨U+FEFF⟩"  # spaces that are not the space
    assert visible("\ue000\U00051234\U0010ffff") == "⟨U+E000⟩⟨U+51234⟩⟨U+10FFFF⟩"  # private use, unassigned
    assert visible(" a\tb\n") == "⋅a→b↵" and visible("你好 🌍 é") == "你好⋅🌍⋅é"  # unchanged
    assert visible("a\r\n") == "a←↵"  # not ␍: no font on a stock Debian, with or without Noto CJK, draws it


def test_a_chip_of_a_direction_override_shows_the_code_point_not_nothing():
    parsed = Text(chips_html(["\u202e", "abc"], [1, 2]))
    assert parsed.text == "⟨U+202E⟩abc" and "\u202e" not in parsed.text


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_chips_and_labels_escape_every_case(case):
    text = case.text[:2000]
    chips = Text(chips_html(list(text[:300]), list(range(len(text[:300])))))
    assert set(chips.tags) <= {"div", "span", "br"}
    for label in axis_labels([text[:300]]):
        assert "<" not in label and ">" not in label


def test_chips_box_a_split_character_and_escape_it():
    """Bytes of one character split over chips are boxed with the character; the box's text is escaped too."""
    raw = [b"<", b"\xe6", b"\x88", b"\x91", b"\xf0\x9f", b"\x99\x82", b"ok"]
    tokens = [r.decode("utf-8", errors="replace") for r in raw]
    body = chips_html(tokens, list(range(len(raw))), raw)
    parsed = Text(body)
    assert parsed.text == "<���= 我���= 🙂ok" and "&lt;" in body
    assert body.count('class="tok-char"') == 2 and 'title="tokens 1–3 together make 我"' in body
    assert 'title="tokens 4–5 together make 🙂"' in body
    assert chips_html(tokens, list(range(len(raw)))).count("tok-char") == 0  # without the bytes: no boxes
    unfinished = chips_html(["\ufffd", "\ufffd"], [1, 2], [b"\xe6", b"\x88"])  # a character cut off at the end
    assert unfinished.count('class="tok-char"') == 1


def test_an_override_in_the_prompt_cannot_turn_the_answer_around():
    body = answer_html("ROMEO. \u202eBut soft", False, ["on", " which"])
    parsed = Text(body)
    assert parsed.text.endswith("ROMEO. \u202eBut soft" + "on which")  # the text itself is kept as typed
    isolated = [s for s in parsed.styles if "unicode-bidi:isolate" in s]
    assert len(isolated) == 2  # the prompt and the answer: each is its own piece of bidirectional text


def test_the_answer_view_escapes_markup_in_the_prompt_and_the_answer():
    html_case = BY_NAME["html"].text
    parsed = Text(answer_html(html_case, True, ["<script>", "x"]))
    assert not {"script", "img", "iframe", "b"} & set(parsed.tags)
    assert html_case in parsed.text and "<script>x" in parsed.text


def test_the_answer_view_shows_a_character_split_between_tokens_whole():
    cat = "我".encode()
    body = answer_html("prompt", False, [b"<b>", cat[:1], cat[1:2], cat[2:], b"\xff"], lang="en")
    parsed = Text(body)
    assert parsed.text.endswith("prompt<b>我\ufffd") and "b" not in parsed.tags
    assert 'title="answer tokens 2 to 4, one character split into bytes"' in body
    assert 'title="answer token 5"' in body
    odd = Text(answer_html("p", False, ["a\x0c", "\u202e", " b\n"]))  # a model's answer, controls drawn
    assert odd.text.endswith("a⟨U+000C⟩⟨U+202E⟩ b↵\n")
