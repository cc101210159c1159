"""The generation timeline: steps kept, back, branches, stop reasons, the KV cache and the choice view."""

import pytest
import torch

from gpt_core import GPT, GPTConfig, generate
from gpt_core.timeline import (
    GREEDY,
    PICKED,
    SAMPLED,
    STOP_CONTEXT,
    STOP_EOT,
    STOP_LENGTH,
    Limits,
    Settings,
    Timeline,
    choice_view,
    last_position,
    step_seed,
)

CFG = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=61)
PROMPT = [1, 2, 3, 4]
GREEDY_SETTINGS = Settings(temperature=0)
SAMPLING = Settings(temperature=1.3, top_k=20, top_p=0.95, seed=11)
FAR = Limits(max_new_tokens=100, slide=True)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(7)
    return GPT(CFG).eval()


def full_logits(model, ids):
    """Last-position logits recomputed from scratch on the last block_size ids (no cache)."""
    with torch.no_grad():
        return model(torch.tensor([ids[-CFG.block_size:]]))[0][0, -1]


def run(model, settings, n, limits=FAR, **kw):
    tl = Timeline(PROMPT, CFG.block_size, **kw)
    return tl, [s.token for s in tl.generate(model, settings, limits, n)]


def test_step_seeds_are_fixed_and_differ_between_steps_and_seeds():
    assert step_seed(0, 0) == step_seed(0, 0)
    seeds = {step_seed(s, i) for s in range(20) for i in range(20)}
    assert len(seeds) == 400 and all(0 <= x < 2**63 for x in seeds)


def test_greedy_timeline_writes_what_generate_writes(model):
    tl, tokens = run(model, GREEDY_SETTINGS, 8)
    assert tokens == generate(model, PROMPT, 8, temperature=0)
    assert all(s.how == GREEDY and s.u is None for s in tl.steps)
    assert tl.cursor == len(tl.steps) == 8 and tl.ids() == PROMPT + tokens


def test_same_seed_and_settings_give_the_same_text(model):
    _, a = run(model, SAMPLING, 10)
    _, b = run(model, SAMPLING, 10)
    _, c = run(model, Settings(1.3, 20, 0.95, seed=12), 10)
    assert a == b and a != c


def test_kv_cache_gives_the_same_logits_as_recomputing(model):
    with_cache, a = run(model, GREEDY_SETTINGS, 12)
    without, b = run(model, GREEDY_SETTINGS, 12, use_kv_cache=False)
    assert a == b
    for s, t in zip(with_cache.steps, without.steps, strict=True):
        torch.testing.assert_close(s.logits, t.logits, atol=1e-5, rtol=1e-5)
    # sampled: the cached logits match a full recomputation on the same text at every step (the
    # tokens themselves are not compared: float noise of 1e-8 may reorder two near-equal candidates)
    sampled, _ = run(model, SAMPLING, 12)
    for p, s in enumerate(sampled.steps):
        torch.testing.assert_close(s.logits, full_logits(model, sampled.ids(p)), atol=1e-5, rtol=1e-5)


def test_a_step_feeds_only_the_newest_token(model):
    tl = Timeline(PROMPT, CFG.block_size)
    tl.step(model, SAMPLING, FAR)
    assert tl.last_forward == (0, len(PROMPT))  # the first forward reads the whole prompt
    tl.logits_at(model)
    assert tl.last_forward == (len(PROMPT), 1)  # after that, one new position per step
    no_cache = Timeline(PROMPT, CFG.block_size, use_kv_cache=False)
    no_cache.step(model, SAMPLING, FAR)
    no_cache.logits_at(model)
    assert no_cache.last_forward == (0, len(PROMPT) + 1)


def test_every_step_keeps_its_distribution_rank_and_random_number(model):
    tl, _ = run(model, SAMPLING, 5)
    for s in tl.steps:
        d = s.distribution
        assert s.how == SAMPLED and 0 <= s.u < 1 and d.kept[s.token]
        assert (d.temperature, d.top_k, d.top_p) == (1.3, 20, 0.95)
        assert s.rank == d.rank_of(s.token) and s.prob == pytest.approx(float(d.probs[s.token]))
        assert SAMPLING.draw(d, s.index).token == s.token  # the recorded draw replays


def test_back_then_next_replays_the_kept_step(model):
    tl, tokens = run(model, SAMPLING, 6)
    assert tl.back() and tl.back() and tl.cursor == 4
    assert tl.tokens() == tokens[:4] and len(tl.steps) == 6  # nothing is forgotten
    again = tl.step(model, SAMPLING, FAR)
    assert again is tl.steps[4] and tl.cursor == 5 and len(tl.branches) == 1
    tl.go(0)
    assert not tl.back() and tl.cursor == 0


def test_choosing_another_candidate_starts_a_branch_and_keeps_the_old_one(model):
    tl, tokens = run(model, GREEDY_SETTINGS, 6)
    tl.go(2)
    second = int(torch.argsort(tl.steps[2].logits, descending=True)[1])  # its 2nd choice
    step = tl.choose(model, second, GREEDY_SETTINGS)
    assert step.how == PICKED and step.rank == 2 and step.u is None
    assert len(tl.branches) == 2 and tl.current == 1 and tl.cursor == 3
    assert tl.branch.parent == 0 and tl.branch.fork == 2
    assert tl.tokens() == tokens[:2] + [second]
    assert tl.branches[0].tokens == tokens  # the earlier branch is kept to compare
    assert tl.steps[0] is tl.branches[0].steps[0]  # shared steps are the same records

    more = [s.token for s in tl.generate(model, GREEDY_SETTINGS, FAR, 3)]  # continue the new branch
    assert more == generate(model, PROMPT + tokens[:2] + [second], 3, temperature=0)
    torch.testing.assert_close(tl.logits_at(model), full_logits(model, tl.ids()), atol=1e-5, rtol=1e-5)

    tl.switch(0)
    tl.go(2)
    tl.choose(model, second, GREEDY_SETTINGS)  # the same choice again goes back to that branch
    assert len(tl.branches) == 2 and tl.current == 1 and tl.cursor == 3


def test_next_with_other_settings_on_a_kept_step_branches(model):
    tl, tokens = run(model, GREEDY_SETTINGS, 4)
    tl.go(1)
    settings = next(Settings(2.0, seed=s) for s in range(100)
                    if tl.preview(model, Settings(2.0, seed=s))[1].token != tokens[1])
    tl.step(model, settings, FAR)
    assert len(tl.branches) == 2 and tl.tokens()[:1] == tokens[:1] and tl.tokens()[1] != tokens[1]


def test_preview_shows_what_next_will_do_without_changing_anything(model):
    tl = Timeline(PROMPT, CFG.block_size)
    dist, d = tl.preview(model, SAMPLING)
    assert tl.cursor == 0 and not tl.steps
    assert tl.step(model, SAMPLING, FAR).token == d.token and float(dist.final.sum()) == pytest.approx(1.0)


def test_generation_stops_at_the_length_limit(model):
    tl, tokens = run(model, SAMPLING, 50, limits=Limits(max_new_tokens=5))
    assert len(tokens) == 5 and tl.stop_reason(Limits(5)) == STOP_LENGTH
    assert tl.step(model, SAMPLING, Limits(5)) is None
    assert tl.stop_reason(Limits(6)) is None


def test_generation_stops_at_the_end_of_text_token(model):
    first = generate(model, PROMPT, 1, temperature=0)[0]
    tl, tokens = run(model, GREEDY_SETTINGS, 10, eot_token=first)
    assert tokens == [first] and tl.stop_reason(FAR) == STOP_EOT


def test_generation_stops_at_the_context_or_slides_past_it(model):
    room = CFG.block_size - len(PROMPT) + 1  # the last token may fill the context exactly
    tl, tokens = run(model, GREEDY_SETTINGS, 40, limits=Limits(100, slide=False))
    assert len(tokens) == room and tl.stop_reason(Limits(100)) == STOP_CONTEXT
    assert tl.dropped() == len(tl.ids()) - CFG.block_size == 1

    tl, tokens = run(model, GREEDY_SETTINGS, 20)
    assert tokens == generate(model, PROMPT, 20, temperature=0)  # generate slides the same way
    assert [s.dropped for s in tl.steps][room - 1 : room + 2] == [0, 1, 2]
    for p in (room, room + 3, 19):  # once full, every choice is made from the last block_size tokens
        assert len(tl.context(p)) == CFG.block_size
        torch.testing.assert_close(tl.steps[p].logits, full_logits(model, tl.ids(p)), atol=1e-5, rtol=1e-5)


def test_stopping_the_generator_keeps_the_steps_made(model):
    tl = Timeline(PROMPT, CFG.block_size)
    for i, _ in enumerate(tl.generate(model, SAMPLING, FAR, 50)):
        if i == 2:
            break  # what the Stop button does: the loop is interrupted between steps
    assert len(tl.steps) == 3 and tl.cursor == 3


def test_reset_forgets_every_step(model):
    tl, _ = run(model, SAMPLING, 3)
    tl.go(1)
    tl.choose(model, 0, SAMPLING)
    tl.reset()
    assert tl.cursor == 0 and tl.steps == [] and len(tl.branches) == 1


def test_last_position_reads_the_newest_tokens_attention_and_residual(model):
    ids = [5, 9, 2, 33, 7, 1]
    lp = last_position(model, ids)
    _, cache = model.run_with_cache(torch.tensor([ids]))
    for layer in range(CFG.n_layer):
        torch.testing.assert_close(lp.attention[layer], cache.pattern(layer)[:, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lp.resid, cache.resid_stack()[:, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lp.attention.sum(-1), torch.ones(CFG.n_layer, CFG.n_head))
    tl = Timeline(ids[:-1] + [ids[-1]], CFG.block_size)
    torch.testing.assert_close(tl.look(model).attention, lp.attention, atol=1e-5, rtol=1e-5)


def test_choice_view_lists_candidates_cuts_and_the_ruler(model):
    tl = Timeline(PROMPT, CFG.block_size)
    dist, d = tl.preview(model, SAMPLING)
    low = int(torch.argsort(dist.probs)[0])  # the least likely token, shown because asked for
    v = choice_view(dist, d, n_bars=8, extra=(d.token, low), n_segments=3)
    assert v.ids[:8] == torch.argsort(dist.probs, descending=True)[:8].tolist() and v.ids[-1] == low
    assert v.ranks[:8] == list(range(1, 9)) and v.ranks[-1] == CFG.vocab_size
    assert v.shown_mass == pytest.approx(sum(v.probs[:8]), abs=1e-6)
    assert v.n_kept == int(dist.kept.sum()) <= 20 and v.kept[-1] is False
    assert all(a <= b + 1e-7 for a, b in zip(v.curve, v.curve[1:], strict=False)) and v.curve[-1] <= 1 + 1e-6
    # the ruler tiles [0, 1] with the kept tokens, one by one or merged, and u falls in the chosen one
    ends = [s + w for _, s, w in v.segments]
    assert v.segments[0][1] == 0 and ends[-1] == pytest.approx(1.0, abs=1e-5)
    assert all(v.segments[i + 1][1] == pytest.approx(ends[i], abs=1e-6) for i in range(len(ends) - 1))
    landed = [(s, w) for t, s, w in v.segments if t == d.token]
    assert len(landed) == 1 and landed[0][0] <= d.u < landed[0][0] + landed[0][1]


def test_timeline_refuses_bad_moves(model):
    with pytest.raises(ValueError, match="at least one token"):
        Timeline([], 16)
    tl = Timeline(PROMPT, CFG.block_size)
    with pytest.raises(ValueError, match="outside this branch"):
        tl.go(1)
    with pytest.raises(ValueError, match="no branch"):
        tl.switch(3)
    with pytest.raises(ValueError, match="vocabulary"):
        tl.choose(model, CFG.vocab_size, SAMPLING)


# --- sampling edge cases not already in tests/test_generation.py ------------------------------------
LOGITS = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.0, -2.0])


def test_settings_with_top_k_zero_or_top_p_one_cut_nothing():
    for s in (Settings(top_k=0), Settings(top_p=1.0), Settings(top_k=100)):  # k above the vocabulary too
        assert s.distribution(LOGITS).kept.all()


def test_greedy_ignores_top_k_and_top_p():
    d = Settings(temperature=0, top_k=3, top_p=0.5).distribution(LOGITS)
    assert d.kept.tolist() == [True, False, False, False, False, False] and d.final[0] == 1


def test_top_p_is_measured_after_temperature():
    # the same p keeps fewer tokens when a low temperature has sharpened the distribution
    cold = Settings(temperature=0.3, top_p=0.9).distribution(LOGITS)
    hot = Settings(temperature=3.0, top_p=0.9).distribution(LOGITS)
    assert int(cold.kept.sum()) < int(hot.kept.sum())


def test_top_k_and_top_p_together_keep_the_smaller_set():
    assert int(Settings(top_k=2, top_p=0.99).distribution(LOGITS).kept.sum()) == 2
    assert int(Settings(top_k=5, top_p=0.5).distribution(LOGITS).kept.sum()) == 1
