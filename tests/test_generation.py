"""Sampling math and step-by-step generation."""

import pytest
import torch

from gpt_core import GPT, GPTConfig, draw, generate, generate_steps, next_token_distribution

CFG = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=61)
LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(7)
    return GPT(CFG).eval()


def test_temperature_one_is_the_softmax():
    d = next_token_distribution(LOGITS, temperature=1.0)
    torch.testing.assert_close(d.final, torch.softmax(LOGITS, -1))
    assert d.kept.all()


def test_temperature_zero_is_greedy():
    d = next_token_distribution(LOGITS, temperature=0)
    assert d.greedy and d.final.tolist() == [1, 0, 0, 0, 0, 0]
    assert draw(d).token == 0 and draw(d).u == 0.0


def test_large_temperature_flattens_towards_uniform():
    d = next_token_distribution(LOGITS, temperature=1e6)
    torch.testing.assert_close(d.final, torch.full((6,), 1 / 6), atol=1e-5, rtol=0)
    assert d.entropy("final") > d.entropy("probs")


def test_top_k_one_keeps_only_the_best():
    d = next_token_distribution(LOGITS, temperature=1.0, top_k=1)
    assert d.kept.tolist() == [True, False, False, False, False, False]
    assert d.final[0] == 1


def test_top_k_keeps_k_and_renormalises():
    d = next_token_distribution(LOGITS, temperature=1.0, top_k=3)
    assert d.kept.sum() == 3 and d.kept[:3].all()
    torch.testing.assert_close(d.final[:3], torch.softmax(LOGITS[:3], -1))


def test_top_p_one_keeps_everything():
    assert next_token_distribution(LOGITS, top_p=1.0).kept.all()


def test_tiny_top_p_keeps_one_token():
    d = next_token_distribution(LOGITS, top_p=1e-9)
    assert d.kept.tolist() == [True, False, False, False, False, False]


def test_top_p_keeps_the_smallest_set_reaching_p():
    p = torch.softmax(LOGITS, -1)
    target = float(p[0] + p[1]) - 1e-4  # just below the first two tokens' mass
    d = next_token_distribution(LOGITS, top_p=target)
    assert d.kept.tolist() == [True, True, False, False, False, False]


def test_rank_and_probabilities_are_over_the_full_vocabulary():
    d = next_token_distribution(LOGITS, temperature=0.7, top_k=2)
    assert d.rank_of(0) == 1 and d.rank_of(5) == 6
    assert float(d.probs.sum()) == pytest.approx(1.0)


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="temperature"):
        next_token_distribution(LOGITS, temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        next_token_distribution(LOGITS, top_p=0)


def test_draw_is_reproducible_with_a_seed():
    d = next_token_distribution(LOGITS)
    a = [draw(d, torch.Generator().manual_seed(s)).token for s in range(20)]
    b = [draw(d, torch.Generator().manual_seed(s)).token for s in range(20)]
    assert a == b and len(set(a)) > 1


def test_draw_falls_where_the_random_number_lands():
    d = next_token_distribution(LOGITS)
    r = draw(d, torch.Generator().manual_seed(5))
    pos = r.order.tolist().index(r.token)
    lower = float(r.cumulative[pos - 1]) if pos else 0.0
    assert lower <= r.u < float(r.cumulative[pos])


def test_kv_cache_greedy_equals_recomputation(model):
    prompt = [1, 2, 3, 4]
    with_cache = generate(model, prompt, 10, temperature=0, use_kv_cache=True)
    without = generate(model, prompt, 10, temperature=0, use_kv_cache=False)
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(10):
            seq.append(int(model(torch.tensor([seq]))[0][0, -1].argmax()))
    assert with_cache == without == seq[len(prompt):]


def test_generation_past_the_context_slides_the_window(model):
    steps = list(generate_steps(model, [5] * 10, 12, temperature=0))
    assert len(steps) == 12
    assert not steps[0].cropped and steps[-1].cropped
    recomputed = generate(model, [5] * 10, 12, temperature=0, use_kv_cache=False)
    assert [s.token for s in steps] == recomputed


def test_same_seed_same_text_and_steps_report_rank(model):
    a = list(generate_steps(model, [1, 2], 8, temperature=1.0, top_k=10, seed=42))
    b = list(generate_steps(model, [1, 2], 8, temperature=1.0, top_k=10, seed=42))
    assert [s.token for s in a] == [s.token for s in b]
    for s in a:
        assert s.rank == s.distribution.rank_of(s.token) and 0 < s.prob <= 1


def test_generation_stops_at_end_of_text(model):
    greedy_first = generate(model, [1, 2, 3], 1, temperature=0)[0]
    out = generate(model, [1, 2, 3], 10, temperature=0, eot_token=greedy_first)
    assert out == [greedy_first]


def test_empty_prompt_is_refused(model):
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [], 3)
