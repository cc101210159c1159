"""The Attention page's math and figures: each worked step against an independent recomputation from
hook_q, hook_k and hook_v (plain Python loops in float64) and against the model's hook_pattern, hook_z
and hook_attn_out; the cell story, the wrong formula, renormalising, exports and the figure builders."""

from __future__ import annotations

import json
import math

import numpy as np
import plotly.io
import pytest
import torch
from conftest import TINY

from gpt_core import GPT, GPTConfig, get_tokenizer
from gpt_core import attention_math as am
from gpt_core.analysis import head_scores, stack_patterns
from viz import attention_grid as ag

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?"


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    ids = get_tokenizer("shakespeare_bpe").encode(TEXT)
    _, cache = model.run_with_cache(torch.tensor([ids]))
    return model, ids, cache


def recompute(cache, layer: int, head: int):
    """softmax(QKᵀ/√d_k + M)V by hand, in float64 Python loops, from the cached Q, K and V only."""
    q = cache[f"blocks.{layer}.attn.hook_q"][0, :, head].double().tolist()
    k = cache[f"blocks.{layer}.attn.hook_k"][0, :, head].double().tolist()
    v = cache[f"blocks.{layer}.attn.hook_v"][0, :, head].double().tolist()
    T, d = len(q), len(q[0])
    scores = [[sum(q[i][c] * k[j][c] for c in range(d)) for j in range(T)] for i in range(T)]
    scaled = [[s / math.sqrt(d) for s in row] for row in scores]
    masked = [[s if j <= i else -math.inf for j, s in enumerate(row)] for i, row in enumerate(scaled)]
    pattern = []
    for row in masked:
        top = max(row)
        e = [math.exp(s - top) for s in row]
        pattern.append([x / sum(e) for x in e])
    z = [[sum(pattern[i][j] * v[j][c] for j in range(T)) for c in range(d)] for i in range(T)]
    return {name: torch.tensor(m, dtype=torch.float64) for name, m in
            dict(scores=scores, scaled=scaled, masked=masked, pattern=pattern, z=z).items()}


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    return am.max_difference(a.double(), b.double()) < tol


def test_every_worked_step_matches_an_independent_recomputation(tiny):
    _, _, cache = tiny
    for layer in range(TINY.n_layer):
        for head in range(TINY.n_head):
            w = am.work_head(cache, layer, head)
            ref = recompute(cache, layer, head)
            assert close(w.q, cache[f"blocks.{layer}.attn.hook_q"][0, :, head])
            assert close(w.scores, ref["scores"]) and close(w.scaled, ref["scaled"])
            assert close(w.masked, ref["masked"]) and close(w.pattern, ref["pattern"]) and close(w.z, ref["z"])


def test_every_worked_step_matches_the_models_own_activations(tiny):
    _, _, cache = tiny
    for layer in range(TINY.n_layer):
        for head in range(TINY.n_head):
            w = am.work_head(cache, layer, head)
            assert close(w.pattern, cache[f"blocks.{layer}.attn.hook_pattern"][0, head])
            assert close(w.z, cache[f"blocks.{layer}.attn.hook_z"][0, :, head])
            assert close(w.masked, cache[f"blocks.{layer}.attn.hook_attn_scores"][0, head])
            assert all(d < 1e-5 for d in am.model_checks(w, cache).values())


def test_scaling_uses_the_actual_d_k_and_the_mask_is_causal(tiny):
    _, ids, cache = tiny
    w = am.work_head(cache, 0, 0)
    assert w.d_k == TINY.n_embd // TINY.n_head and w.n_tokens == len(ids)
    assert close(w.scaled * math.sqrt(w.d_k), w.scores)
    M = am.causal_mask(4)
    assert M[1, 0] == 0 and M[1, 1] == 0 and M[1, 2] == -math.inf and M[0, 3] == -math.inf


def test_pattern_rows_sum_to_one_and_future_weights_are_zero(tiny):
    _, _, cache = tiny
    w = am.work_head(cache, 1, 1)
    assert am.worst_row_sum_error(w.pattern) < 1e-6
    assert float(w.pattern.triu(diagonal=1).abs().max()) == 0.0


def test_a_cell_follows_one_weight_through_the_formula(tiny):
    _, ids, cache = tiny
    w = am.work_head(cache, 1, 0)
    T = len(ids)
    i = T - 1
    total = torch.zeros(w.d_k, dtype=torch.float64)
    for j in range(T):
        c = am.work_cell(w, i, j)
        assert c.dot.total == pytest.approx(float(w.scores[i, j]), abs=1e-5)
        assert c.scaled == pytest.approx(float(w.scaled[i, j]), abs=1e-5)
        assert c.weight == pytest.approx(float(w.pattern[i, j]), abs=1e-6)
        assert torch.allclose(c.contribution, c.weight * w.v[j])
        total += c.contribution.double()
    assert close(total, w.z[i])  # the weighted values add up to the head's output


def test_a_masked_cell_has_weight_zero(tiny):
    _, _, cache = tiny
    c = am.work_cell(am.work_head(cache, 0, 0), 2, 5)
    assert not c.allowed and c.weight == 0.0 and c.exp == 0.0 and float(c.contribution.abs().max()) == 0.0
    lines = ag.cell_latex(c)
    assert len(lines) == 2 and r"-\infty" in lines[1]


def test_dot_product_writes_out_the_largest_terms_and_sums_the_rest():
    q = torch.tensor([1.0, -2.0, 0.5, 3.0])
    k = torch.tensor([1.0, 1.0, 2.0, -1.0])
    d = am.dot_product(q, k, max_terms=2)
    assert d.total == pytest.approx(1 - 2 + 1 - 3)
    assert d.shown == [1, 3] and d.rest == pytest.approx(2.0) and d.n_hidden == 2
    assert am.dot_product(q, k, max_terms=8).shown == [0, 1, 2, 3]
    tex = ag.dot_latex(d, 3, 1)
    assert "the other 2 terms" in tex and "= -3.0000" in tex
    with pytest.raises(ValueError, match="two vectors"):
        am.dot_product(q, k[:3])


def test_heads_concatenated_and_projected_give_the_attention_output(tiny):
    model, ids, cache = tiny
    for layer in range(TINY.n_layer):
        w, b = am.output_weights(model, layer)
        proj = am.project_heads(cache, w, b, layer)
        assert proj.reference < 1e-5
        assert proj.concat.shape == (len(ids), TINY.n_embd)
        assert close(proj.per_head.sum(0) + b, proj.out)
        assert am.head_output_norms(proj, 0).shape == (TINY.n_head,)
    assert model.transformer.h[0].attn.c_proj.weight.requires_grad  # the shared model is left as it was


def test_hiding_position_zero_renormalises_the_other_keys():
    p = torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0], [0.5, 0.3, 0.2]])
    r = am.without_first(p)
    assert torch.isnan(r[0]).all()  # the first query can only see position 0
    assert r[1].tolist() == [0.0, 1.0, 0.0]
    assert r[2].tolist() == pytest.approx([0.0, 0.6, 0.4])
    assert am.first_token_share(p[None, None]) == pytest.approx(0.5)
    assert am.top_key(p[2]) == (0, 0.5)


def test_windows_are_cut_from_the_full_rows(tiny):
    _, ids, cache = tiny
    full = stack_patterns(cache)
    assert torch.equal(am.window_patterns(cache, 3, 9), full[..., 3:9, 3:9])
    hidden = am.window_patterns(cache, 3, 9, hide_first=True)
    assert torch.allclose(hidden, am.without_first(full)[..., 3:9, 3:9])  # renormalised over all keys, not the window
    assert torch.allclose(am.sink_scores(cache), full[..., 1:, 0].mean(-1))
    assert am.first_token_share(full) == pytest.approx(float(am.sink_scores(cache).mean()))


def test_only_the_correct_formula_gives_rows_that_sum_to_one(tiny):
    _, ids, cache = tiny
    w = am.work_head(cache, 0, 1)
    wrong = am.wrong_formula(w)
    assert not wrong.literal  # T != d_k: Kᵀ Kᵀ cannot be multiplied as printed
    assert wrong.worst_right < 1e-6
    assert wrong.worst_wrong > 0.1
    assert float(wrong.wrong_future.abs().max()) > 0  # no mask: it gives weight to later tokens
    k = w.k.double()
    expected = torch.exp(w.q.double() @ k.T / math.sqrt(w.d_k)) / (k @ k.T + wrong.eps)
    assert torch.allclose(wrong.wrong, expected)


def test_the_wrong_formula_is_computed_as_printed_when_t_equals_d_k():
    torch.manual_seed(1)
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=64)).eval()
    _, cache = model.run_with_cache(torch.arange(8)[None])  # T = 8 = d_k
    w = am.work_head(cache, 0, 0)
    wrong = am.wrong_formula(w)
    k = w.k.double()
    assert wrong.literal
    assert torch.allclose(wrong.wrong, torch.exp(w.q.double() @ k.T / math.sqrt(8)) / (k.T @ k.T + wrong.eps))


def test_bad_layer_or_head_gives_a_readable_error(tiny):
    _, ids, cache = tiny
    with pytest.raises(ValueError, match="Layer 5 does not exist"):
        am.work_head(cache, 5, 0)
    with pytest.raises(ValueError, match="Head 9 does not exist"):
        am.work_head(cache, 0, 9)
    with pytest.raises(ValueError, match="outside"):
        am.work_cell(am.work_head(cache, 0, 0), len(ids), 0)


def test_exports_hold_every_value(tiny):
    _, ids, cache = tiny
    w = am.work_head(cache, 0, 0)
    tokens = get_tokenizer("shakespeare_bpe").token_strs(ids)
    rows = am.pattern_rows(w.pattern, tokens)
    assert len(rows) == len(ids) * (len(ids) + 1) // 2
    assert am.to_csv(rows).splitlines()[0] == "query_pos,query_token,key_pos,key_token,weight"
    qkv = am.qkv_rows(w, tokens)
    assert len(qkv) == len(ids) and f"v_{w.d_k - 1}" in qkv[0] and qkv[3]["q_0"] == float(w.q[3, 0])
    scores = am.score_rows({"induction": torch.ones(2, 3)})
    assert len(scores) == 6 and scores[-1] == {"layer": 1, "head": 2, "induction": 1.0}
    assert am.to_csv([]) == ""


def test_head_scores_keep_the_test_sequence_patterns(tiny):
    model, _, _ = tiny
    s = head_scores(model, n=10, bos=1023)
    assert s.offset == 1 and len(s.tokens) == 21
    assert s.patterns.shape == (TINY.n_layer, TINY.n_head, 21, 21)
    assert torch.allclose(s.induction, s.patterns[..., torch.arange(11, 21), torch.arange(2, 12)].mean(-1))


# --- figures ------------------------------------------------------------------------------------------


def causal(T: int, seed: int = 0) -> np.ndarray:
    p = np.tril(np.random.default_rng(seed).random((T, T)) + 0.01)
    return p / p.sum(-1, keepdims=True)


def test_grid_is_one_heatmap_and_stays_light_for_gpt2_small():
    assert ag.grid_positions(144, 128) == 32 and ag.grid_positions(4, 20) == 20 and ag.grid_positions(1200, 500) == 11
    patterns = np.stack([np.stack([causal(128, s * 12 + h) for h in range(12)]) for s in range(12)])
    fig = ag.head_grid(patterns[..., :32, :32], (3, 4), {"induction": np.zeros((12, 12))})
    assert [t.type for t in fig.data] == ["heatmap", "scatter"]
    assert len(plotly.io.to_json(fig, validate=False)) < 400_000
    x, y = fig.data[1].x[3 * 12 + 4], fig.data[1].y[3 * 12 + 4]  # point k is layer k // H, head k % H
    step = 32 + 4
    assert (x - 15.5) / step == 4 and (y - 15.5) / step == 3


def test_grid_blanks_the_masked_half_of_every_tile():
    patterns = np.stack([np.stack([causal(6, h) for h in range(2)])])
    fig = ag.head_grid(patterns)
    z = np.asarray(fig.data[0].z)
    assert z.dtype == np.uint8 and z.shape == (6, 6 + 1 + 6)  # one byte per cell
    assert z[0, 5] == 0 and z[0, 6] == 0  # masked cell and gap: blank
    assert z[0, 0] == 255 and z[5, 0] == 1 + round(254 * patterns[0, 0, 5, 0])  # 1..255 is weight 0..1
    with pytest.raises(ValueError, match="layer, head, S, S"):
        ag.head_grid(patterns[0])


def test_a_click_on_the_pattern_maps_back_to_its_cell():
    tokens = [f"t{i}" for i in range(10)]
    fig = ag.pattern_figure(causal(10), tokens, 2, 8, cell=(6, 3))
    allowed, masked = fig.data[1], fig.data[2]
    for curve, trace in ((1, allowed), (2, masked)):
        for index in (0, len(trace.x) - 1):
            event = {"selection": {"points": [{"curve_number": curve, "point_index": index}]}}
            q, k = ag.picked_cell(event, 2, 8)
            assert trace.y[index].startswith(f"#{q} ") or trace.y[index].startswith(f"{q} ")
            assert (k <= q) == (curve == 1)
    assert ag.picked_cell({"selection": {"points": []}}, 2, 8) is None
    assert ag.picked_cell(None, 2, 8) is None
    assert ag.picked_index({"selection": {"points": [{"curve_number": 1, "point_index": 7}]}}) == (1, 7)


def test_user_text_is_escaped_in_every_figure():
    bad = ["<script>x</script>", "<b>", " ok", "&"]
    p = causal(4)
    figs = [ag.pattern_figure(p, bad), ag.query_row_figure(p[3], bad, 3), ag.heads_for_query_figure(p[None, 3], bad, 3),
            ag.head_view_figure(p[None], [0], bad, 0, 4)]
    for fig in figs:
        assert "<script>" not in fig.to_json() and "<b>" not in fig.to_json()


def lines(fig) -> int:
    """Number of query-to-key lines in a head view figure (each segment ends with a NaN break)."""
    return sum(int(np.isnan(np.asarray(t.x, dtype=float)).sum()) for t in fig.data if t.mode == "lines" and t.x[0] == 0)


def segments(fig) -> list[tuple[float, float, float]]:
    """(query row, key row, line width) of every line drawn."""
    out = []
    for t in fig.data:
        if t.mode == "lines" and t.x[0] == 0:  # not the legend entries
            y = np.asarray(t.y, dtype=float).reshape(-1, 3)
            out += [(q, k, t.line.width) for q, k, _ in y]
    return out


def test_head_view_draws_only_weights_above_the_threshold_and_one_query():
    p = np.array([[1.0, 0, 0], [0.99, 0.01, 0], [0.2, 0.3, 0.5]])
    fig = ag.head_view_figure(p[None], [0], ["a", "b", "c"], 0, 3, min_weight=0.02)
    assert lines(fig) == 1 + 1 + 3
    assert {(q, k) for q, k, _ in segments(fig)} == {(0, 0), (1, 0), (2, 0), (2, 1), (2, 2)}
    assert {(q, k) for q, k, _ in segments(ag.head_view_figure(p[None], [0], ["a", "b", "c"], 0, 3, query=2))} == {
        (2, 0), (2, 1), (2, 2)}
    two = ag.head_view_figure(np.stack([p, p]), [0, 1], ["a", "b", "c"], 0, 3)
    assert lines(two) == 10 and {t.name for t in two.data if t.showlegend} == {"head 1", "head 2"}
    widths = {(q, k): w for q, k, w in segments(fig)}
    assert widths[(0, 0)] > widths[(2, 0)]  # weight 1.0 drawn thicker than 0.2
    window = ag.head_view_figure(p[None], [0], ["a", "b", "c"], 1, 3, query=2)
    assert {(q, k) for q, k, _ in segments(window)} == {(1, 0), (1, 1)}  # rows of the window: positions 2 → 1, 2
    with pytest.raises(ValueError, match="heads, T, T"):
        ag.head_view_figure(p, [0], ["a", "b", "c"], 0, 3)


def test_matrix_figure_names_masked_cells_and_checks_shapes():
    m = np.array([[1.0, -np.inf], [0.5, -0.25]])
    fig = ag.matrix_figure(m, ["a", "b"], ["a", "b"], kind="masked")
    assert fig.data[0].text[0][1] == "−∞ (masked)" and np.isnan(fig.data[0].z[0][1])
    assert json.loads(fig.to_json())["data"][0]["zmid"] == 0
    with pytest.raises(ValueError, match="row labels"):
        ag.matrix_figure(m, ["a"])
    with pytest.raises(ValueError, match="Unknown matrix kind"):
        ag.matrix_figure(m, ["a", "b"], kind="pretty")


def test_step_formulas_carry_the_real_sizes():
    assert r"\sqrt{64}" in ag.step_latex("step_scale", 128, 64, 12, 768)
    assert "128 \\times 768" in ag.step_latex("step_project", 128, 64, 12, 768)
    assert all(ag.step_latex(s, 5, 4, 2, 8) for s in ag.STEPS)
    with pytest.raises(ValueError, match="Unknown step"):
        ag.step_latex("step_magic", 5, 4, 2, 8)


def test_score_map_and_test_sequence_figures(tiny):
    model, _, _ = tiny
    s = head_scores(model, n=10, bos=1023)
    fig = ag.score_figure(s.induction.numpy(), "induction", (1, 0))
    assert fig.data[1].x[2] == 0 and fig.data[1].y[2] == 1  # point k is layer k // H, head k % H
    seq = ag.test_sequence_figure(s.patterns[0, 0].numpy(), 10, 1)
    assert len(seq.layout.shapes) == 3
    with pytest.raises(ValueError, match="needs a 23-square"):
        ag.test_sequence_figure(s.patterns[0, 0].numpy(), 11, 1)


def test_stacked_patterns_feed_the_grid(tiny):
    _, ids, cache = tiny
    p = stack_patterns(cache)
    assert p.shape == (TINY.n_layer, TINY.n_head, len(ids), len(ids))
    fig = ag.head_grid(am.without_first(p).numpy())
    assert fig.data[0].z.shape[0] == TINY.n_layer * len(ids) + (TINY.n_layer - 1) * max(1, round(len(ids) / 8))
