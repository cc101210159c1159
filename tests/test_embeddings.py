"""gpt_core.embeddings and viz.embeddings: the lookup, neighbours, PCA, positions, LayerNorm and residual norms."""

import csv
import io
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpt_core import GPT, GPTConfig, get_tokenizer
from gpt_core import embeddings as emb
from viz import embeddings as ev

CFG = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=1024)
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks? é"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = GPT(CFG).eval()
    with torch.no_grad():  # trained-looking LayerNorms: γ and β away from 1 and 0, so the test can see them
        for block in m.transformer.h:
            for ln in (block.ln_1, block.ln_2):
                ln.weight.uniform_(0.5, 1.5)
                ln.bias.uniform_(-0.2, 0.2)
    return m


@pytest.fixture(scope="module")
def tok():
    return get_tokenizer("shakespeare_bpe")


@pytest.fixture(scope="module")
def ids(tok):
    return tok.encode(TEXT)


@pytest.fixture(scope="module")
def cache(model, ids):
    return model.run_with_cache(torch.tensor([ids]))[1]


# --- lookup ---------------------------------------------------------------------------------------------------


def test_lookup_rows_are_the_model_rows_and_their_sum_is_hook_resid_pre(model, ids, cache):
    look = emb.embedding_lookup(model, ids)
    wte, wpe = model.transformer.wte.weight, model.transformer.wpe.weight
    assert torch.equal(look.token_rows, wte[ids])
    assert torch.equal(look.pos_rows, wpe[: len(ids)])
    assert torch.allclose(look.total, cache["blocks.0.hook_resid_pre"][0], atol=1e-7)
    assert look.max_error(cache) < 1e-7


def test_lookup_window_reads_only_the_rows_asked_for(model, ids, cache):
    look = emb.embedding_lookup(model, ids, 5, 9)
    assert look.ids == ids[5:9] and look.token_rows.shape == (4, CFG.n_embd)
    assert torch.equal(look.pos_rows, model.transformer.wpe.weight[5:9])
    assert torch.allclose(look.total, cache["blocks.0.hook_resid_pre"][0, 5:9], atol=1e-7)
    assert look.max_error(cache) < 1e-7


def test_lookup_refuses_positions_outside_the_text(model, ids):
    with pytest.raises(ValueError, match="do not fit"):
        emb.embedding_lookup(model, ids, 3, len(ids) + 1)


def test_lookup_does_not_touch_the_weights(model, ids):
    before = model.transformer.wte.weight.clone()
    look = emb.embedding_lookup(model, ids)
    look.token_rows.add_(1.0)
    assert torch.equal(model.transformer.wte.weight, before)


def test_partial_utf8_tokens_are_labelled_with_their_hex_bytes(tok):
    ids = tok.encode("é")  # two byte tokens, each half of the character
    assert tok.token_strs(ids) == ["\ufffd", "\ufffd"]
    assert [emb.token_label(tok, i) for i in ids] == ["<c3>", "<a9>"]
    assert emb.token_label(tok, tok.encode(" king")[0]) == " king"


# --- nearest neighbours ---------------------------------------------------------------------------------------


def test_neighbour_scores_are_cosine_similarities_over_the_whole_vocabulary(model, tok):
    index = emb.EmbeddingIndex.for_model(model, tok)
    w = model.transformer.wte.weight
    q = tok.encode(" king")[0]
    expected = F.cosine_similarity(w, w[q][None], dim=1)
    assert torch.allclose(index.similarities(w[q]), expected, atol=1e-6)
    found = emb.nearest_neighbours(index, tok, q, k=7)
    best = torch.topk(torch.cat([expected[:q], torch.tensor([-2.0]), expected[q + 1:]]), 7)
    assert [n.token for n in found] == best.indices.tolist()
    assert [n.rank for n in found] == list(range(1, 8))
    assert all(a.cosine >= b.cosine for a, b in zip(found, found[1:], strict=False))
    assert q not in [n.token for n in found]
    assert found[0].label == emb.token_label(tok, found[0].token)


def test_neighbour_index_finds_a_scaled_copy_first_and_copies_no_matrix():
    w = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    w[7] = 3.5 * w[2]  # same direction, different length: cosine 1
    index = emb.EmbeddingIndex(w)
    assert index.weight.data_ptr() == w.data_ptr()
    (top, score), *_ = index.nearest(2, k=3)
    assert top == 7 and math.isclose(score, 1.0, abs_tol=1e-6)
    assert index.nearest(2, k=1, include_self=True)[0][0] in (2, 7)


def test_neighbour_index_covers_only_the_tokenizer_rows():
    index = emb.EmbeddingIndex(torch.randn(20, 4), n_tokens=12)
    assert index.n_tokens == 12 and index.similarities(torch.ones(4)).shape == (12,)
    assert len(index.nearest(0, k=50)) == 11
    with pytest.raises(ValueError, match="outside the vocabulary"):
        index.nearest(15)
    with pytest.raises(ValueError, match="cannot be compared"):
        index.similarities(torch.ones(5))


# --- PCA ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, d", [(10, 30), (60, 5)])  # the Gram branch and the covariance branch
def test_pca_matches_svd_up_to_sign_and_is_deterministic(n, d):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    p = emb.pca(x, 2)
    xc = x - x.mean(0)
    u, s, vt = torch.linalg.svd(xc, full_matrices=False)
    ref = (u * s)[:, :2]
    for j in range(2):
        sign = torch.sign((p.coords[:, j].double() * ref[:, j]).sum())
        assert torch.allclose(p.coords[:, j].double(), sign * ref[:, j], atol=1e-4)
    assert torch.allclose(p.explained.double(), (s[:2] ** 2) / (s**2).sum(), atol=1e-5)
    assert torch.equal(emb.pca(x, 2).coords, p.coords)
    assert torch.allclose(p.components.norm(dim=1), torch.ones(2))


def test_pca_of_a_large_matrix_uses_a_seeded_randomized_svd_that_matches_the_exact_one():
    g = torch.Generator().manual_seed(2)
    n, d = emb.EXACT_PCA_LIMIT + 88, emb.EXACT_PCA_LIMIT + 8
    signal = torch.randn(n, 3, generator=g, dtype=torch.float64) * torch.tensor([5.0, 3.0, 2.0], dtype=torch.float64)
    x = signal @ torch.randn(3, d, generator=g, dtype=torch.float64) + 0.1 * torch.randn(n, d, generator=g,
                                                                                         dtype=torch.float64)
    state = torch.random.get_rng_state()
    p = emb.pca(x, 3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is left alone
    xc = x - x.mean(0)
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    for j in range(3):
        ref = (u * s)[:, j]
        sign = torch.sign((p.coords[:, j].double() * ref).sum())
        assert torch.allclose(p.coords[:, j].double(), sign * ref, atol=1e-3)
    assert torch.allclose(p.explained.double(), (s[:3] ** 2) / (s**2).sum(), atol=1e-6)
    assert torch.equal(emb.pca(x, 3).coords, p.coords)


def test_pca_of_points_on_a_line_explains_everything():
    t = torch.linspace(-1, 1, 9)[:, None]
    p = emb.pca(t * torch.tensor([[1.0, 2.0, -2.0]]), 2)
    assert p.explained[0] > 0.999 and p.explained[1] < 1e-6


def test_token_map_marks_prompt_tokens_reference_words_and_pieces(model, tok, ids):
    tm = emb.token_map(model, tok, ids, ["king", "Juliet", " ", "king"])
    assert tm.groups.count(emb.YOUR_TEXT) == len(set(ids)) == tm.n_prompt_shown
    assert "king" in tm.labels and tm.labels.count("king") == 1
    juliet = [w for w, g in zip(tm.words, tm.groups, strict=True) if g == emb.PIECE]
    assert juliet == ["Juliet"] * 4
    assert [r.word for r in tm.split] == ["Juliet"] and tm.split[0].pieces == [" J", "u", "li", "et"]
    assert len(set(tm.ids)) == len(tm.ids) and tm.projection.coords.shape == (len(tm.ids), 2)


def test_token_map_caps_the_prompt_and_needs_three_points(model, tok, ids):
    tm = emb.token_map(model, tok, ids, [], max_prompt=5)
    assert tm.n_prompt_shown == 5 and tm.n_prompt_unique == len(set(ids))
    with pytest.raises(ValueError, match="at least three"):
        emb.token_map(model, tok, ids[:1], ["king"])


def test_default_reference_words_are_single_tokens(tok):
    words = emb.default_reference_words(tok)
    assert 10 <= len(words) <= 20
    assert all(len(tok.encode(" " + w)) == 1 for w in words)
    assert "queen" not in words  # " queen" is " qu" + "een" in the Shakespeare tokenizer


# --- positions ------------------------------------------------------------------------------------------------


def test_sampled_positions_stay_within_the_limit():
    assert emb.sampled_positions(0, 64, 128) == list(range(64))
    assert emb.sampled_positions(0, 1024, 128) == list(range(0, 1024, 8))
    assert len(emb.sampled_positions(3, 258, 128)) <= 128


def test_position_similarity_is_the_cosine_of_the_wpe_rows(model):
    sim = emb.position_similarity(model, [0, 5, 9])
    w = model.transformer.wpe.weight
    assert torch.allclose(sim[1, 2], F.cosine_similarity(w[5], w[9], dim=0), atol=1e-6)
    assert torch.allclose(sim.diagonal(), torch.ones(3), atol=1e-6) and torch.allclose(sim, sim.T)


def test_position_components_cover_every_position(model):
    p = emb.position_components(model, 3)
    assert p.coords.shape == (CFG.block_size, 3) and p.explained.shape == (3,)
    assert (p.explained[:-1] >= p.explained[1:]).all()


# --- LayerNorm ------------------------------------------------------------------------------------------------


def test_layernorm_worked_example_matches_ln1_hook_normalized(model, cache):
    s = emb.layernorm_steps(model, cache, "blocks.0.ln1", 3)
    x = cache["blocks.0.hook_resid_pre"][0, 3]
    assert torch.equal(s.x, x.double())
    assert torch.allclose(s.y.float(), cache["blocks.0.ln1.hook_normalized"][0, 3], atol=1e-5)
    assert s.max_error < 1e-5 and s.eps == CFG.layer_norm_eps
    # the std LayerNorm divides by: biased variance plus eps under the square root
    assert math.isclose(s.var, float(x.double().var(unbiased=False)), rel_tol=1e-9)
    assert math.isclose(s.std, math.sqrt(float(x.double().var(unbiased=False)) + CFG.layer_norm_eps), rel_tol=1e-9)
    assert not math.isclose(s.std, float(x.double().std()), rel_tol=1e-6)  # not the unbiased std
    assert torch.allclose(s.normalized, (x.double() - s.mean) / s.std)
    ln = model.transformer.h[0].ln_1
    assert torch.equal(s.gamma, ln.weight.double()) and torch.equal(s.beta, ln.bias.double())


@pytest.mark.parametrize("where", emb.layer_norm_names(CFG.n_layer))
def test_every_layernorm_is_worked_from_its_own_input(model, cache, where):
    s = emb.layernorm_steps(model, cache, where, 0)
    assert s.max_error < 1e-5
    assert s.input_name in cache


def test_unknown_layernorm_is_refused(model, cache):
    for bad in ("blocks.0.ln3", "blocks.9.ln1", "ln_f"):
        with pytest.raises(ValueError):
            emb.layernorm_steps(model, cache, bad, 0)


# --- residual stream ------------------------------------------------------------------------------------------


def test_residual_norms_are_a_running_sum(cache, ids):
    r = emb.residual_norms(cache)
    T = len(ids)
    assert r.resid.shape == (CFG.n_layer + 1, T) and r.attn.shape == r.mlp.shape == (CFG.n_layer, T)
    assert torch.allclose(r.resid[0], cache["blocks.0.hook_resid_pre"][0].norm(dim=-1))
    assert torch.allclose(r.mlp[1], cache["blocks.1.hook_mlp_out"][0].norm(dim=-1))
    assert r.max_error < 1e-5
    attn, mlp, resid = r.of_token(None)
    assert torch.allclose(attn, r.attn.mean(1)) and resid.shape == (CFG.n_layer + 1,)
    assert torch.equal(r.of_token(2)[1], r.mlp[:, 2])


# --- figures --------------------------------------------------------------------------------------------------


def test_lookup_heatmap_shows_three_panels_on_one_colour_scale():
    tok_rows, pos_rows = np.arange(12.0).reshape(3, 4) / 10, np.ones((3, 4)) / 100
    fig = ev.lookup_heatmap(tok_rows, pos_rows, ["<b>", " a", "\n"], 10, 1, 3)
    a, b, c = fig.data
    assert np.allclose(np.array(c.z), (tok_rows + pos_rows)[:, 1:3])
    assert list(a.x) == [1, 2] and a.y[0] == "#10 &lt;b&gt;" and a.y[2] == "#12 ↵"
    assert {t.coloraxis for t in fig.data} == {"coloraxis"}
    with pytest.raises(ValueError, match="cells"):
        ev.lookup_heatmap(np.zeros((200, 100)), np.zeros((200, 100)), ["x"] * 200)
    with pytest.raises(ValueError, match="shape"):
        ev.lookup_heatmap(np.zeros((3, 4)), np.zeros((3, 5)), ["a", "b", "c"])


def test_matrix_csv_round_trips_and_never_writes_a_formula():
    text = ev.matrix_csv([[1.5, -2.0], [0.125, 3e-9]], ["=cmd()", 'a "b", c'], ["dim 0", "dim 1"], "token")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["token", "dim 0", "dim 1"]
    assert rows[1] == ["'=cmd()", "1.5", "-2"] and rows[2][0] == 'a "b", c'
    assert float(rows[2][2]) == pytest.approx(3e-9)


def test_figures_escape_token_text_and_check_shapes():
    bars = ev.neighbour_bars(["<i>x</i>", " y"], [0.9, -0.1], "<b>q</b>")
    assert "&lt;i&gt;" in bars.data[0].y[0] and "&lt;b&gt;" in bars.layout.title.text
    fig = ev.pca_scatter([[0, 1], [1, 0], [2, 2]], ["a", "<s>", "c"], ["your text", "reference word", "your text"],
                         [0.5, 0.3])
    assert [t.name for t in fig.data] == ["your text", "reference word"] and fig.data[1].text[0] == "&lt;s&gt;"
    assert "50%" in fig.layout.xaxis.title.text
    with pytest.raises(ValueError, match="Unknown groups"):
        ev.pca_scatter([[0, 1]], ["a"], ["other"], [0.5, 0.5])
    assert ev.caption_html("<script>") == (
        '<div style="font-size:0.875rem;opacity:0.7;white-space:pre-wrap">&lt;script&gt;</div>')


def test_residual_heatmap_log_scale_keeps_the_real_norms_for_hover():
    norms = np.array([[1.0, 100.0], [10.0, 1000.0]])
    fig = ev.residual_heatmap(norms, ["a", "b"], 0, log=True)
    assert np.allclose(fig.data[0].z, np.log10(norms)) and np.allclose(fig.data[0].customdata, norms)
    assert list(fig.data[0].y) == ["embeddings (into block 1)", "after block 1"]
    bars = ev.contribution_bars([1.0], [2.0], [0.5, 2.5])
    assert [list(t.y) for t in bars.data] == [[1.0], [2.0], [0.5, 2.5]]


def test_layernorm_figure_and_worked_line():
    x = np.array([1.0, -1.0, 3.0])
    fig = ev.layernorm_figure(x, x / 2, x / 2 + 1, 1.0, 1.6, 0, 2)
    assert [list(t.y) for t in fig.data] == [[1.0, -1.0], [0.5, -0.5], [1.5, 0.5]]
    assert json.loads(fig.to_json())["layout"]["shapes"]  # mean and mean ± std lines
    line = ev.layernorm_latex(0, -0.5, 0.25, 1.5, 2.0, -0.1, -1.1)
    assert r"\frac{(-0.5000) - 0.2500}{1.5000}" in line and line.endswith("= -1.1000")
    rows = ev.layernorm_rows(x, x, x, x, x, x, x, 1, 3)
    assert [r["dimension"] for r in rows] == [1, 2] and rows[0]["the model's output"] == -1.0


def test_csv_helpers_label_rows_and_columns():
    rows = ev.row_labels(["RO", " soft"], [12, 99], 4)
    assert rows == ["#4 RO (id 12)", "#5  soft (id 99)"]
    (label, text, name), *_ = ev.lookup_csvs(np.ones((2, 5)), np.zeros((2, 5)), rows, 1, 3)
    assert (label, name) == ("Token embedding rows", "token_embedding_rows")
    assert text.splitlines()[0] == "position token (id),dim 1,dim 2"
    assert ev.lookup_csvs(np.ones((2, 5)), np.ones((2, 5)), rows, 0, 1)[2][1].splitlines()[1] == "#4 RO (id 12),2"
    assert ev.records_csv([{"dimension": 0, "x": 1.5}]) == "dimension,x\n0,1.5\n"
    assert ev.components_csv([[1.0, 2.0]]).splitlines() == ["position,PC1,PC2", "pos 0,1,2"]
    assert ev.difference(0.0) == "0 (exactly equal)" and ev.difference(2.4e-7) == "2.4e-07"


def test_layernorm_names_and_metrics_for_display():
    assert ev.layernorm_name("blocks.0.ln1") == "Block 1, before attention (blocks.0.ln1)"
    assert ev.layernorm_name("blocks.2.ln2") == "Block 3, before the MLP (blocks.2.ln2)"
    assert "ln_final" in ev.layernorm_name("ln_final")
    assert dict(ev.layernorm_metrics(32, 0.5, 0.25, 1e-5, 0.5))["std = √(σ² + ε)"] == "0.500000"
