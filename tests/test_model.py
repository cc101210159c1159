"""The model: activation names and shapes, the attention pattern, capture and KV-cache equivalence."""

import pickle

import pytest
import torch
from conftest import in_threads

from gpt_core import GPT, GPTConfig, activation_names, count_parameters, n_params
from gpt_core.config import PRESETS

CFG = GPTConfig(n_layer=2, n_head=4, n_embd=32, block_size=24, vocab_size=97)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(CFG).eval()


@pytest.fixture(scope="module")
def idx():
    return torch.randint(0, CFG.vocab_size, (2, 11), generator=torch.Generator().manual_seed(1))


def test_activation_names_frozen_in_computation_order(model, idx):
    _, cache = model.run_with_cache(idx)
    assert list(cache) == activation_names(CFG.n_layer)
    assert activation_names(1) == [
        "hook_embed", "hook_pos_embed",
        "blocks.0.hook_resid_pre", "blocks.0.ln1.hook_normalized",
        "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v",
        "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
        "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid", "blocks.0.ln2.hook_normalized",
        "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post", "blocks.0.hook_mlp_out",
        "blocks.0.hook_resid_post", "ln_final.hook_normalized",
    ]


def test_activation_shapes_match_design(model, idx):
    _, cache = model.run_with_cache(idx)
    B, T = idx.shape
    d, H, dh, dm = CFG.n_embd, CFG.n_head, CFG.d_head, CFG.d_mlp
    expected = {"hook_embed": (B, T, d), "hook_pos_embed": (B, T, d), "ln_final.hook_normalized": (B, T, d)}
    for i in range(CFG.n_layer):
        p = f"blocks.{i}."
        for n in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "ln1.hook_normalized",
                  "ln2.hook_normalized", "hook_attn_out", "hook_mlp_out"):
            expected[p + n] = (B, T, d)
        for n in ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z"):
            expected[p + n] = (B, T, H, dh)
        expected[p + "attn.hook_attn_scores"] = (B, H, T, T)
        expected[p + "attn.hook_pattern"] = (B, H, T, T)
        expected[p + "mlp.hook_pre"] = (B, T, dm)
        expected[p + "mlp.hook_post"] = (B, T, dm)
    assert {k: tuple(v.shape) for k, v in cache.items()} == expected
    assert all(v.device.type == "cpu" and not v.requires_grad for v in cache.values())


def test_pattern_rows_sum_to_one_and_future_is_exactly_zero(model, idx):
    _, cache = model.run_with_cache(idx)
    for i in range(CFG.n_layer):
        p = cache[f"blocks.{i}.attn.hook_pattern"]
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:-1]))
        upper = torch.ones(p.shape[-2:], dtype=torch.bool).triu(1)
        assert (p[..., upper] == 0).all()
        scores = cache[f"blocks.{i}.attn.hook_attn_scores"]
        assert torch.isneginf(scores[..., upper]).all()
        assert torch.isfinite(scores[..., ~upper]).all()


def test_pattern_is_softmax_of_scaled_qk(model, idx):
    _, cache = model.run_with_cache(idx)
    q = cache["blocks.1.attn.hook_q"].transpose(1, 2)  # (B, H, T, dh)
    k = cache["blocks.1.attn.hook_k"].transpose(1, 2)
    v = cache["blocks.1.attn.hook_v"].transpose(1, 2)
    T = q.shape[2]
    scores = q @ k.transpose(-1, -2) / CFG.d_head**0.5
    scores = scores + torch.full((T, T), float("-inf")).triu(1)
    pattern = torch.softmax(scores, -1)
    torch.testing.assert_close(pattern, cache["blocks.1.attn.hook_pattern"])
    torch.testing.assert_close((pattern @ v).transpose(1, 2), cache["blocks.1.attn.hook_z"])


def test_residual_stream_is_a_running_sum(model, idx):
    _, cache = model.run_with_cache(idx)
    torch.testing.assert_close(cache["blocks.0.hook_resid_pre"], cache["hook_embed"] + cache["hook_pos_embed"])
    for i in range(CFG.n_layer):
        p = f"blocks.{i}."
        mid = cache[p + "hook_resid_pre"] + cache[p + "hook_attn_out"]
        torch.testing.assert_close(cache[p + "hook_resid_mid"], mid)
        torch.testing.assert_close(cache[p + "hook_resid_post"], mid + cache[p + "hook_mlp_out"])


def test_logits_equal_with_and_without_capture(model, idx):
    with torch.no_grad():
        plain, _ = model(idx)
    captured, _ = model.run_with_cache(idx)
    torch.testing.assert_close(plain, captured, atol=1e-5, rtol=1e-5)


def test_kv_cache_gives_the_same_logits_as_recomputation(model, idx):
    with torch.no_grad():
        full, _ = model(idx)
        first, kv = model(idx[:, :7])
        rest, _ = model(idx[:, 7:], past_kv=kv)
    torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-5, rtol=1e-5)


def test_only_the_logits_asked_for_are_computed(model, idx):
    with torch.no_grad():
        full, kv_full = model(idx)
        last, kv_last = model(idx, logits_for="last")
        none, kv_none = model(idx, logits_for="none")
        with pytest.raises(ValueError, match="logits_for"):
            model(idx, logits_for="first")
    assert last.shape == (2, 1, CFG.vocab_size) and none is None
    torch.testing.assert_close(last[:, 0], full[:, -1], atol=1e-5, rtol=1e-5)  # the next token's scores
    for (k, v), (k1, v1), (k2, v2) in zip(kv_full, kv_last, kv_none, strict=True):  # the same keys and values
        assert torch.equal(k, k1) and torch.equal(k, k2) and torch.equal(v, v1) and torch.equal(v, v2)
    _, everything = model.run_with_cache(idx)
    last_only, cache = model.run_with_cache(idx, logits_for="last")
    torch.testing.assert_close(last_only[:, 0], full[:, -1], atol=1e-5, rtol=1e-5)
    assert all(torch.equal(cache[name], everything[name]) for name in activation_names(CFG.n_layer))


def test_sequence_longer_than_context_is_refused(model):
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, CFG.block_size + 1, dtype=torch.long))


def test_head_is_tied_to_token_embedding(model):
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()


def test_capture_touches_no_shared_state(model):
    """Two threads running different prompts at once each get their own activations."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attrs_before = {name: set(vars(m)) for name, m in model.named_modules()}
    inputs = [torch.randint(0, CFG.vocab_size, (1, 9), generator=torch.Generator().manual_seed(s)) for s in range(8)]
    expected = [model.run_with_cache(x)[1]["blocks.1.attn.hook_pattern"] for x in inputs]
    results = [None] * len(inputs)

    def work(i):
        for _ in range(5):
            results[i] = model.run_with_cache(inputs[i])[1]["blocks.1.attn.hook_pattern"]

    in_threads(work, len(inputs))
    for got, want in zip(results, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert {name: set(vars(m)) for name, m in model.named_modules()} == attrs_before
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_activation_cache_pickles_without_the_model(model, idx):
    _, cache = model.run_with_cache(idx)
    again = pickle.loads(pickle.dumps(cache))
    assert list(again) == list(cache)
    torch.testing.assert_close(again["blocks.0.attn.hook_pattern"], cache["blocks.0.attn.hook_pattern"])
    with pytest.raises(KeyError, match="No activation named"):
        cache["blocks.9.attn.hook_pattern"]


@pytest.mark.parametrize(
    "name, total",
    [("gpt2", 124_439_808), ("gpt2-medium", 354_823_168), ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200)],
)
def test_parameter_counts_match_hugging_face(name, total):
    assert n_params(PRESETS[name].config) == total


def test_parameter_count_by_component_matches_the_built_model(model):
    counts = count_parameters(CFG)
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
    assert counts["total"] == model.num_parameters()
    assert counts["head"] == 0


def test_gpt3_family_sizes_match_the_paper_within_rounding():
    published = {"gpt3-small": 125e6, "gpt3-medium": 350e6, "gpt3-large": 760e6, "gpt3-xl": 1.3e9,
                 "gpt3-2.7b": 2.7e9, "gpt3-6.7b": 6.7e9, "gpt3-13b": 13.0e9, "gpt3-175b": 175.0e9}
    for name, want in published.items():
        assert abs(n_params(PRESETS[name].config) - want) / want < 0.03, name


def test_gpt1_preset_has_the_published_shape():
    c = PRESETS["gpt1"].config
    assert (c.n_layer, c.n_embd, c.n_head, c.block_size, c.vocab_size) == (12, 768, 12, 512, 40478)
    assert abs(n_params(c) - 117e6) / 117e6 < 0.01
