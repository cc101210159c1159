"""What run_with_cache keeps and what it recomputes: recomputed activations are the forward pass's own numbers,
the kept memory shrinks, and the fast paths of generation give the same results as the explicit ones."""

import pytest
import torch

from gpt_core import GPT, ActivationCache, GPTConfig, activation_names, draw, next_token_distribution
from gpt_core.cache import RECOMPUTED

CFG = GPTConfig(n_layer=2, n_head=4, n_embd=32, block_size=24, vocab_size=97)
RECOMPUTED_NAMES = [f"blocks.{i}.{s}" for i in range(CFG.n_layer) for s in RECOMPUTED]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(CFG).eval()


@pytest.fixture(scope="module")
def run(model):
    idx = torch.randint(0, CFG.vocab_size, (2, 13), generator=torch.Generator().manual_seed(3))
    return model.run_with_cache(idx)[1]


def test_recomputed_names_are_not_kept_but_still_answered(run):
    assert set(RECOMPUTED_NAMES).isdisjoint(run.stored())
    assert list(run) == activation_names(CFG.n_layer)
    assert all(name in run for name in RECOMPUTED_NAMES)


def test_recomputed_scores_are_exactly_what_the_softmax_saw(run):
    for i in range(CFG.n_layer):
        scores = run[f"blocks.{i}.attn.hook_attn_scores"]
        assert torch.equal(torch.softmax(scores, dim=-1), run[f"blocks.{i}.attn.hook_pattern"])


def test_recomputed_activations_give_the_next_stored_ones_exactly(model, run):
    B, T = run["hook_embed"].shape[:2]
    with torch.no_grad():
        for i, block in enumerate(model.transformer.h):
            p = f"blocks.{i}."
            assert torch.equal(block.ln_1(run[p + "hook_resid_pre"]), run[p + "ln1.hook_normalized"])
            qkv = block.attn.c_attn(run[p + "ln1.hook_normalized"]).view(B, T, 3, -1)
            assert torch.equal(qkv[:, :, 0], run[p + "attn.hook_q"].reshape(B, T, -1))
            assert torch.equal(block.attn.c_proj(run[p + "attn.hook_z"].reshape(B, T, -1)), run[p + "hook_attn_out"])
            assert torch.equal(block.ln_2(run[p + "hook_resid_mid"]), run[p + "ln2.hook_normalized"])
            assert torch.equal(block.mlp.c_fc(run[p + "ln2.hook_normalized"]), run[p + "mlp.hook_pre"])
            assert torch.equal(block.mlp.c_proj(run[p + "mlp.hook_post"]), run[p + "hook_mlp_out"])
            assert torch.equal(run[p + "hook_resid_mid"] + run[p + "hook_mlp_out"], run[p + "hook_resid_post"])


def test_the_cache_keeps_its_own_copy_of_the_layernorm_parameters(model):
    idx = torch.arange(5)[None]
    _, cache = model.run_with_cache(idx)
    before = cache["blocks.0.ln1.hook_normalized"].clone()
    weight = model.transformer.h[0].ln_1.weight
    saved = weight.detach().clone()
    with torch.no_grad():
        weight.add_(1.0)  # as a training step would
    try:
        assert torch.equal(cache["blocks.0.ln1.hook_normalized"], before)
    finally:
        with torch.no_grad():
            weight.copy_(saved)


def test_kept_memory_counts_shared_storage_once_and_excludes_recomputed(run):
    every_name = sum(t.numel() * t.element_size() for t in run.values())
    recomputed = sum(run[n].numel() * run[n].element_size() for n in RECOMPUTED_NAMES)
    assert run.nbytes() < every_name - recomputed  # q, k and v share one tensor; resid_post is the next resid_pre
    assert "MB" in repr(run)


def test_a_cache_refuses_a_name_it_cannot_compute():
    with pytest.raises(ValueError, match="hook_attn_scores"):
        ActivationCache({"blocks.0.attn.hook_q": torch.zeros(1, 2, 1, 4)}, ["blocks.0.attn.hook_attn_scores"])
    with pytest.raises(KeyError, match="No activation named"):
        ActivationCache({"hook_embed": torch.zeros(1)})["blocks.0.mlp.hook_post"]


def test_one_token_at_a_time_with_the_kv_cache_matches_the_full_pass(model):
    idx = torch.randint(0, CFG.vocab_size, (1, 9), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full, _ = model(idx)
        logits, past = model(idx[:, :1])
        steps = [logits]
        for t in range(1, idx.shape[1]):
            logits, past = model(idx[:, t : t + 1], past_kv=past)
            steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("vocab", [1, 5, 1000])
def test_greedy_draw_orders_tokens_as_a_stable_sort_would(vocab):
    logits = torch.randn(vocab, generator=torch.Generator().manual_seed(vocab))
    dist = next_token_distribution(logits, temperature=0)
    d = draw(dist)
    order = torch.argsort(dist.final, descending=True, stable=True)
    assert d.token == int(torch.argmax(logits)) and d.u == 0.0
    assert torch.equal(d.order, order)
    assert torch.equal(d.cumulative, torch.cumsum(dist.final[order], 0))
