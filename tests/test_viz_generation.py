"""The Generation page's figures: escaped text, readable shape errors, the numbers they carry."""

from html.parser import HTMLParser

import numpy as np
import pytest

from gpt_core import get_tokenizer
from viz import generation as vg


class Parsed(HTMLParser):
    def __init__(self, body: str):
        super().__init__()
        self.tags, self.spans, self.text = set(), [], ""
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "span":
            self.spans.append(dict(attrs))

    def handle_data(self, data):
        self.text += data


def test_text_html_escapes_prompt_and_tokens_and_marks_every_state():
    html = vg.text_html(["<b>", "x"], ["<script>", " y", "\n", "z"], cursor=2, dropped=1,
                        titles=["a", "b", "c", "d"], picked=[False, True, False, False])
    p = Parsed(html)
    assert not {"b", "script"} & p.tags
    assert "<b>" in p.text and "<script>" in p.text and "⋅y" in p.text
    classes = [s.get("class", "") for s in p.spans]
    assert classes[0] == "prompt slid" and classes[1] == "prompt"
    assert classes[2] == "gen" and classes[3] == "gen odd picked latest"
    assert classes[4] == "next" and classes[5:] == ["ahead", "ahead"]  # the kept tokens after the cursor


def test_text_html_shows_a_prompt_in_bytes_as_whole_characters():
    tok = get_tokenizer("shakespeare_bpe")  # learned from English plays: Chinese stays split into bytes
    prompt = "注意力 <b>"
    ids = tok.encode(prompt)
    assert "\ufffd" in "".join(tok.token_strs(ids))  # token by token, the characters would be lost
    p = Parsed(vg.text_html([tok.token_bytes(i) for i in ids], ["x"], cursor=1, dropped=2))
    prompt_spans = [s for s in p.spans if s.get("class", "").startswith("prompt")]
    assert "<b>" not in p.tags and p.text.endswith(prompt + "x?") and "\ufffd" not in p.text
    assert prompt_spans[0]["class"] == "prompt slid"  # tokens 0 and 1 slid out: the character they start too
    assert prompt_spans[0]["title"].startswith("prompt tokens 0 to ")


def test_text_html_boxes_generated_tokens_that_make_one_character():
    cat = "我".encode()
    generated = [b" a", cat[:1], cat[1:2], cat[2:], b"<i>"]
    p = Parsed(vg.text_html([b"x"], generated, cursor=3, titles=[f"t{i}" for i in range(5)]))
    classes = [s.get("class", "") for s in p.spans]
    box = classes.index("char")
    assert classes[box + 1:box + 3] == ["gen odd part", "gen latest part"]  # each byte token keeps its chip
    assert classes[box + 3] == "next" and classes[box + 4] == "ahead part"  # the cursor sits inside the box
    assert classes[box + 5] == "whole" and "= 我" in p.text and "<i>" in p.text and "i" not in p.tags
    assert p.spans[box]["title"] == "generated tokens 2 to 4 make “我” between them"
    assert [s["title"] for s in p.spans if "gen" in s.get("class", "") or "ahead" in s.get("class", "")] == [
        "t0", "t1", "t2", "t3", "t4"]


def test_text_html_checks_its_arguments():
    with pytest.raises(ValueError, match="cursor 3"):
        vg.text_html(["a"], ["b"], cursor=3)
    with pytest.raises(ValueError, match="titles per generated token"):
        vg.text_html(["a"], ["b", "c"], cursor=1, titles=["t"])


def test_candidates_figure_greys_cut_tokens_and_marks_the_draw():
    fig = vg.candidates_figure(["a", "<b>", "c"], [1, 2, 3], [2.0, 1.0, 0.0], [0.6, 0.3, 0.1], [0.7, 0.25, 0.05],
                               [0.74, 0.26, 0.0], [True, True, False], 0.8, marked=1)
    before, after = fig.data
    assert list(before.x) == [0.6, 0.3, 0.1] and list(after.x) == [0.7, 0.25, 0.05]
    assert list(after.marker.color) == [vg.BLUE, vg.ORANGE, vg.GREY]
    assert after.y[1] == "2. &lt;b&gt;" and after.text[2] == "cut"
    assert "removed by the cut" in after.customdata[2] and "logit 2.000" in after.customdata[0]
    with pytest.raises(ValueError, match="one rank"):
        vg.candidates_figure(["a"], [1, 2], [0.0], [1.0], [1.0], [1.0], [True], 1.0)


def test_cut_figure_draws_the_top_p_and_top_k_lines():
    fig = vg.cut_figure([0.5, 0.8, 0.95, 1.0], n_kept=2, top_p=0.7, top_k=3)
    assert list(fig.data[0].y) == [0.5, 0.8, 0.95, 1.0]
    shapes = {(s.type, s.y0 if s.type == "line" and s.y0 == s.y1 else s.x0) for s in fig.layout.shapes}
    assert ("line", 0.7) in shapes and ("line", 3.5) in shapes and ("line", 2.5) in shapes


def test_draw_figure_lays_the_kept_tokens_end_to_end_and_marks_u():
    fig = vg.draw_figure(["a", None, "c"], [0.0, 0.5, 0.9], [0.5, 0.4, 0.1], u=0.93, landed=2, landed_token="c")
    bar = fig.data[0]
    assert list(bar.base) == [0.0, 0.5, 0.9] and list(bar.x) == [0.5, 0.4, 0.1]
    assert bar.marker.color[2] == vg.ORANGE and bar.marker.color[1] == vg.GREY
    assert fig.layout.shapes[0].x0 == 0.93 and "u = 0.9300 → 'c'" in fig.layout.annotations[0].text
    assert not vg.draw_figure(["a"], [0.0], [1.0], u=None, landed=0).layout.shapes  # greedy: no random number


def test_newest_attention_figure_has_every_head_and_their_mean():
    a = np.random.default_rng(0).dirichlet(np.ones(4), size=(2, 3))  # (layer, head, T), rows sum to 1
    fig = vg.newest_attention_figure(a, ["a", "b", "c", "d"], first_position=10)
    mean, heat = fig.data
    assert list(heat.y) == ["L1 H1", "L1 H2", "L1 H3", "L2 H1", "L2 H2", "L2 H3"]
    assert list(heat.x) == ["#10 a", "#11 b", "#12 c", "#13 d"]
    np.testing.assert_allclose(np.asarray(mean.y), a.reshape(6, 4).mean(0), atol=1e-3)
    with pytest.raises(ValueError, match="attention must be"):
        vg.newest_attention_figure(a, ["a", "b"])


def test_lens_figure_shows_tokens_probabilities_and_the_target():
    fig = vg.lens_figure(["embeddings", "after block 1"], [["a", "b"], ["<c>", "a"]], [[0.5, 0.2], [0.6, 0.3]],
                         "a", [0.5, 0.3], [1, 2])
    heat, bars = fig.data
    assert heat.text[1][0] == "&lt;c&gt;<br>60.0%" and list(bars.x) == [0.5, 0.3]
    assert bars.text[1] == "30.0% · rank 2"
    with pytest.raises(ValueError, match="every layer"):
        vg.lens_figure(["e"], [["a"]], [[1.0]], "a", [0.5, 0.1], [1, 2])
