"""The logit lens: final LayerNorm on each layer's residual (its own statistics), then the unembedding."""

import pytest
import torch

from gpt_core import GPT, GPTConfig
from gpt_core.lens import layer_names, lens_at, logit_lens
from gpt_core.timeline import last_position

CFG = GPTConfig(n_layer=3, n_head=2, n_embd=16, block_size=12, vocab_size=40)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    m = GPT(CFG).eval()
    with torch.no_grad():  # a non-trivial final LayerNorm, so the test sees gamma and beta at work
        m.transformer.ln_f.weight.uniform_(0.5, 1.5)
        m.transformer.ln_f.bias.normal_(0, 0.1)
    return m


def hand_lens(model: GPT, x: torch.Tensor) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) * gamma + beta, per vector, then times the unembedding matrix."""
    ln = model.transformer.ln_f
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # LayerNorm's biased variance
    normed = (x - mean) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias
    return normed @ model.lm_head.weight.T


def test_lens_matches_a_hand_computation(model):
    torch.manual_seed(0)
    resid = torch.randn(CFG.n_layer + 1, CFG.n_embd) * torch.tensor([[0.5], [2.0], [7.0], [30.0]])
    torch.testing.assert_close(logit_lens(model, resid), hand_lens(model, resid), atol=1e-4, rtol=1e-4)


def test_each_layer_is_normalised_with_its_own_statistics(model):
    torch.manual_seed(1)
    resid = torch.randn(CFG.n_layer + 1, CFG.n_embd)
    whole = logit_lens(model, resid)
    for i in range(resid.shape[0]):  # a row's lens does not depend on the other rows
        torch.testing.assert_close(whole[i], logit_lens(model, resid[i : i + 1])[0])
    # LayerNorm divides out each vector's own scale: a row 20 times larger reads the same
    torch.testing.assert_close(logit_lens(model, resid * 20), whole, atol=1e-3, rtol=1e-3)
    # normalising every row with the last row's statistics (the wrong lens) would give other logits
    mean, std = resid[-1].mean(), resid[-1].std(unbiased=False)
    ln = model.transformer.ln_f
    wrong = ((resid - mean) / std * ln.weight + ln.bias) @ model.lm_head.weight.T
    assert not torch.allclose(wrong[0], whole[0], atol=1e-3)


def test_the_last_layer_of_the_lens_is_the_models_prediction(model):
    ids = [3, 14, 15, 9, 2, 6]
    lp = last_position(model, ids)
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0][0, -1]
    torch.testing.assert_close(logit_lens(model, lp.resid[-1]), logits, atol=1e-4, rtol=1e-4)
    lens = lens_at(model, lp.resid, k=3)
    assert lens.top_ids[-1, 0] == logits.argmax() and lens.target == int(logits.argmax())
    assert lens.layers == layer_names(CFG.n_layer) == ["embeddings", "after block 1", "after block 2", "after block 3"]


def test_lens_reports_a_targets_probability_and_rank_at_every_layer(model):
    torch.manual_seed(2)
    resid = torch.randn(CFG.n_layer + 1, CFG.n_embd)
    lens = lens_at(model, resid, k=4, target=7)
    probs = torch.softmax(hand_lens(model, resid), -1)
    torch.testing.assert_close(lens.target_probs, probs[:, 7], atol=1e-5, rtol=1e-4)
    assert lens.target_ranks.tolist() == [int((row > row[7]).sum()) + 1 for row in probs]
    assert lens.top_ids.shape == lens.top_probs.shape == (CFG.n_layer + 1, 4)
    assert (lens.top_probs[:, :-1] >= lens.top_probs[:, 1:]).all()  # best first
    torch.testing.assert_close(lens.top_probs, probs.gather(-1, lens.top_ids), atol=1e-5, rtol=1e-4)
    assert (lens.entropy > 0).all() and (lens.entropy <= torch.log(torch.tensor(40.0)) + 1e-4).all()


def test_lens_refuses_vectors_of_the_wrong_shape(model):
    with pytest.raises(ValueError, match="16 numbers"):
        logit_lens(model, torch.zeros(4, 15))
    with pytest.raises(ValueError, match="residual stream of one position"):
        lens_at(model, torch.zeros(2, 16))
