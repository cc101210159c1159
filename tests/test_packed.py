"""Pre-packed weights (model.Linear.pack): same numbers as the plain multiply, used only where safe."""


import pytest
import torch
from conftest import in_threads

from gpt_core import GPT, GPTConfig, loading
from gpt_core.loading import PACK_MB_ENV, load_model
from gpt_core.model import PACKED_MIN_ROWS, Linear

CFG = GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=160, vocab_size=300)
LONG = PACKED_MIN_ROWS + 36  # over the threshold: the packed multiply runs


def seeded() -> GPT:
    torch.manual_seed(0)
    return GPT(CFG).eval()


def packed_or_skip(model: GPT) -> GPT:
    """``model`` with its linear layers packed; skipped on a torch build without oneDNN's packed linear,
    where the model only ever runs the plain multiply and there is nothing packed to test."""
    if model.pack_for_inference() == 0:
        pytest.skip("this build of torch has no oneDNN packed linear (the model runs the plain multiply)")
    return model


def ids(T: int) -> torch.Tensor:
    return torch.randint(0, CFG.vocab_size, (1, T), generator=torch.Generator().manual_seed(T))


@pytest.fixture(scope="module")
def pair():
    return seeded(), packed_or_skip(seeded())


def test_every_linear_layer_is_packed(pair):
    _, packed = pair
    layers = [m for m in packed.modules() if isinstance(m, Linear)]
    assert len(layers) == 4 * CFG.n_layer + 1  # c_attn, c_proj, c_fc, c_proj per block, and lm_head
    assert all(m._packed is not None for m in layers)


def test_packed_forward_agrees_with_the_plain_one(pair):
    plain, packed = pair
    with torch.inference_mode():
        want, want_cache = plain.run_with_cache(ids(LONG))
        got, got_cache = packed.run_with_cache(ids(LONG))
        short_want, _ = plain(ids(PACKED_MIN_ROWS - 1))  # a generated token's few rows
        short_got, _ = packed(ids(PACKED_MIN_ROWS - 1))
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_cache["blocks.1.attn.hook_pattern"], want_cache["blocks.1.attn.hook_pattern"],
                               atol=1e-5, rtol=1e-4)
    assert torch.equal(short_got, short_want)  # under PACKED_MIN_ROWS the same plain multiply runs


def test_packed_path_is_the_one_taken(pair, monkeypatch):
    """Over the threshold the oneDNN op is called; under it, and with gradients needed, it is not."""
    _, packed = pair
    calls = []
    real = torch.ops.mkldnn._linear_pointwise

    def counting(*args):
        calls.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", counting)
    with torch.no_grad():
        packed(ids(LONG))
    assert len(calls) == 4 * CFG.n_layer + 1
    calls.clear()
    with torch.no_grad():
        packed(ids(PACKED_MIN_ROWS - 1))
    x = torch.randn(1, LONG, CFG.n_embd, requires_grad=True)
    packed.lm_head(x).sum().backward()  # gradients flow through the plain multiply
    assert calls == []
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_a_changed_weight_is_never_read_from_a_stale_pack():
    plain, packed = seeded(), packed_or_skip(seeded())
    with torch.no_grad():
        for model in (plain, packed):
            model.transformer.h[0].mlp.c_fc.weight.mul_(-2.0)  # in place: the version counter moves
            model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight * 0.5)  # a new tensor: storage moves
        want, _ = plain(ids(LONG))
        got, _ = packed(ids(LONG))
    assert torch.equal(got, want)


def test_training_a_packed_model_uses_plain_multiplies():
    model = packed_or_skip(seeded().train())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = ids(LONG + 1)
    first = model.loss(x[:, :-1], x[:, 1:])
    first.backward()
    opt.step()
    assert model.loss(x[:, :-1], x[:, 1:]).item() < first.item()


def test_packing_is_refused_off_float32():
    model = seeded().double()
    assert model.pack_for_inference() == 0
    with torch.no_grad():
        logits, _ = model(ids(LONG))
    assert logits.dtype == torch.float64


def test_load_model_packs_cpu_models_between_the_two_sizes(monkeypatch):
    def packed(bundle) -> bool:
        return any(m._packed is not None for m in bundle.model.modules() if isinstance(m, Linear))

    assert not packed(load_model("default", device="cpu"))  # 14 MB: under PACK_MIN_BYTES, packing would not pay
    monkeypatch.setattr(loading, "PACK_MIN_BYTES", 0)
    assert packed(load_model("default", device="cpu")) == torch.backends.mkldnn.is_available()
    monkeypatch.setenv(PACK_MB_ENV, "0")  # over the memory limit: not packed
    assert not packed(load_model("default", device="cpu"))


def test_a_packed_model_serves_threads_at_once(pair):
    """The packed copies are only read: sessions running prompts at once get each their own numbers."""
    plain, packed = pair
    inputs = [ids(LONG - s) for s in range(6)]
    with torch.no_grad():
        want = [plain(x)[0] for x in inputs]
    got = [None] * len(inputs)

    def work(i):
        with torch.no_grad():
            for _ in range(3):
                got[i] = packed(inputs[i])[0]

    in_threads(work, len(inputs))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4)
