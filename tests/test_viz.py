"""Figure builders: escaping, whitespace markers, heatmap masking, bar order, block diagram, parameter sums."""

import math

import numpy as np
import pytest

from gpt_core import PRESETS, GPTConfig, count_parameters, get_tokenizer
from viz.attention import attention_heatmap, masked_pattern, window_start
from viz.model import block_dot, param_bars, param_rows
from viz.predictions import top_k_bars
from viz.tokens import PALETTE, axis_labels, chips_html, visible

XSS = "<img src=x onerror=alert(1)>"


def causal_pattern(T: int, seed: int = 0) -> np.ndarray:
    """A random (T, T) pattern with zeros above the diagonal and rows summing to 1."""
    p = np.tril(np.random.default_rng(seed).random((T, T)) + 0.01)
    return p / p.sum(-1, keepdims=True)


def test_chips_escape_html_in_tokens():
    out = chips_html([XSS], [7])
    assert "<img" not in out
    assert "&lt;img" in out and "onerror=alert(1)&gt;" in out


def test_chips_escape_html_of_real_tokenization():
    tok = get_tokenizer("shakespeare_bpe")
    ids = tok.encode(XSS)
    out = chips_html(tok.token_strs(ids), ids)
    assert "<img" not in out and "onerror=alert(1)>" not in out
    assert out.count('class="tok"') == len(ids)


def test_chips_make_whitespace_visible():
    out = chips_html([" a", "\t", "\n", "b"], [1, 2, 3, 4])
    assert "⋅" in out and "→" in out and "↵" in out
    assert "<br>" in out  # a line-ending chip keeps the text's layout
    assert visible(" a\tb\n") == "⋅a→b↵"


def test_neighbouring_chips_have_different_colours():
    out = chips_html(["a"] * 10, list(range(10)))
    colours = [c for c in PALETTE if c in out]
    assert len(colours) == len(PALETTE)
    for i in range(9):
        assert PALETTE[i % len(PALETTE)] != PALETTE[(i + 1) % len(PALETTE)]


def test_chips_show_id_and_bytes_of_partial_characters_on_hover():
    tok = get_tokenizer("shakespeare_bpe")
    ids = tok.encode("你")  # not in the Shakespeare vocabulary: three byte tokens, each shown as �
    out = chips_html(tok.token_strs(ids), ids, [tok.token_bytes(i) for i in ids])
    assert len(ids) == 3 and f"token id {ids[0]}" in out
    assert "bytes e4 (part of a character)" in out


def test_chips_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="one id"):
        chips_html(["a", "b"], [1])


def test_heatmap_has_one_cell_per_pair_and_blank_future_cells():
    tokens = ["a", "a", " b", "<b>"]
    p = causal_pattern(4)
    fig = attention_heatmap(p, tokens, title="Layer 1, head 1")
    z = np.array(fig.data[0].z, dtype=float)
    assert z.shape == (4, 4)
    assert np.isnan(z[np.triu_indices(4, k=1)]).all()
    assert np.allclose(z[np.tril_indices(4)], p[np.tril_indices(4)].round(4))
    assert fig.data[0].zmin == 0
    labels = list(fig.data[0].x)
    assert len(set(labels)) == 4  # duplicate tokens get unique labels
    assert labels[3] == "#3 &lt;b&gt;" and labels[2] == "#2 ⋅b"
    assert "query" in fig.data[0].hovertemplate and "key" in fig.data[0].hovertemplate


def test_heatmap_window_shows_a_square_slice_with_absolute_positions():
    T = 100
    start = window_start(T)
    fig = attention_heatmap(causal_pattern(T), [f"t{i}" for i in range(T)], start, T)
    z = np.array(fig.data[0].z, dtype=float)
    assert start == 36 and z.shape == (64, 64)
    assert fig.data[0].y[0] == "#36 t36"
    assert np.isnan(z[0, 1]) and not np.isnan(z[1, 0])


@pytest.mark.parametrize(
    ("pattern", "tokens", "message"),
    [(np.zeros((3, 4)), ["a"] * 3, "square"), (np.zeros((3, 3)), ["a"] * 2, "3 positions")],
)
def test_heatmap_rejects_bad_shapes_readably(pattern, tokens, message):
    with pytest.raises(ValueError, match=message):
        attention_heatmap(pattern, tokens)


def test_masked_pattern_rejects_window_outside_pattern():
    with pytest.raises(ValueError, match="does not fit"):
        masked_pattern(np.eye(3), 2, 5)


def test_top_k_bars_are_ordered_most_likely_first():
    fig = top_k_bars([" the", "<b>", "x"], [0.1, 0.5, 0.2], [5, 6, 7])
    bar = fig.data[0]
    assert list(bar.x) == [0.5, 0.2, 0.1]
    assert list(bar.y) == ["1. &lt;b&gt;", "2. x", "3. ⋅the"]
    assert fig.layout.yaxis.autorange == "reversed"  # rank 1 drawn on top
    assert "token id 6" in bar.customdata[0]


def test_top_k_bars_show_the_bytes_of_partial_characters():
    fig = top_k_bars(["\ufffd", " a"], [0.3, 0.2], raw=[b"\xe2", b" a"])
    assert list(fig.data[0].y) == ["1. \ufffd (bytes e2)", "2. ⋅a"]


def test_top_k_bars_reject_bad_input():
    with pytest.raises(ValueError, match="one probability"):
        top_k_bars(["a"], [0.1, 0.2])
    with pytest.raises(ValueError, match="between 0 and 1"):
        top_k_bars(["a"], [1.5])


def test_block_dot_carries_the_model_shapes():
    dot = block_dot(n_head=4, d_model=64, d_mlp=256, context=128)
    for shape in ["T × 64", "T × 192", "4 × T × 16", "Linear 64 → 256", "Linear 256 → 64", "T ≤ 128", "d_k = 16"]:
        assert shape in dot
    assert "softmax(QKᵀ / √d_k + M) V" in dot
    assert dot.count("{") == dot.count("}")
    assert "T × 2304" in block_dot(12, 768, 3072, 1024)  # GPT-2 small's QKV


def test_block_dot_rejects_heads_that_do_not_divide_d_model():
    with pytest.raises(ValueError, match="evenly"):
        block_dot(n_head=5, d_model=64, d_mlp=256, context=8)


@pytest.mark.parametrize("config", [GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=1024),
                                    PRESETS["gpt2"].config])
def test_param_chart_bars_sum_to_the_total(config):
    counts = count_parameters(config)
    fig = param_bars(counts)
    assert sum(fig.data[0].x) == counts["total"]
    rows = param_rows(counts, tied=config.tie_word_embeddings)
    assert rows[-1]["parameters"] == f"{counts['total']:,}"
    assert sum(int(r["parameters"].replace(",", "")) for r in rows[:-1]) == counts["total"]
    assert math.isclose(sum(float(r["share"].rstrip("%")) for r in rows[:-1]), 100, abs_tol=0.5)


def test_param_rows_say_when_the_head_is_tied():
    counts = count_parameters(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=4, vocab_size=10))
    assert any("tied" in r["component"] for r in param_rows(counts, tied=True))
    assert not any("tied" in r["component"] for r in param_rows(counts, tied=False))


def test_param_chart_rejects_counts_that_do_not_add_up():
    counts = dict(count_parameters(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=4, vocab_size=10)))
    counts["total"] += 1
    with pytest.raises(ValueError, match="add up"):
        param_bars(counts)


def test_axis_labels_are_unique_and_escaped():
    assert axis_labels(["&", "&"], 5) == ["#5 &amp;", "#6 &amp;"]
