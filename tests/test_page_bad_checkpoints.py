"""Broken and hostile weight files in the app: the sidebar says what is wrong, the app keeps the model it had
(or says that none is loaded), no traceback appears, and no code from a file runs."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from gpt_core import GPT, GPTConfig, save_checkpoint
from gpt_core.weights import to_hf_state_dict
from tests.conftest import use_default_model
from tests.test_pages import open_page

HF = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=50257)


class WritesMarker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def hf_folder(folder, config: dict | None = None):
    """A GPT-2 folder in Hugging Face layout: config.json and model.safetensors of a seeded 1-layer model."""
    folder.mkdir(parents=True)
    doc = {"n_layer": HF.n_layer, "n_head": HF.n_head, "n_embd": HF.n_embd, "n_positions": HF.block_size,
           "vocab_size": HF.vocab_size}
    (folder / "config.json").write_text(json.dumps(doc | (config or {})))
    torch.manual_seed(0)
    state = {k.removeprefix("transformer."): v for k, v in to_hf_state_dict(GPT(HF)).items() if k != "lm_head.weight"}
    save_file(state, str(folder / "model.safetensors"))
    return folder


def pickle_with_code(folder, marker):
    (folder / "model.safetensors").unlink()
    torch.save({"h.0.attn.c_attn.weight": torch.zeros(2), "x": WritesMarker(marker)}, folder / "pytorch_model.bin")


def wrong_shape(folder, _marker):
    state = load_file(str(folder / "model.safetensors"))
    state["wte.weight"] = torch.zeros(50257, 8)
    save_file(state, str(folder / "model.safetensors"))


def garbage(folder, _marker):
    (folder / "model.safetensors").write_bytes(b"\x00\x01not a safetensors file" * 100)


def truncated(folder, _marker):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])


BROKEN = {
    "pickle_with_code": (pickle_with_code, None, "unpickling them could run code"),
    "wrong_shape": (wrong_shape, None, "has shape (50257, 8), expected (50257, 16)"),
    "garbage": (garbage, None, "is not a readable safetensors file"),
    "truncated": (truncated, None, "is not a readable safetensors file"),
    "heads_do_not_divide": (None, {"n_head": 3}, "n_embd 16 is not divisible by n_head 3"),
    "config_wrong_types": (None, {"n_layer": "1"}, "'n_layer' should be a whole number"),
}


@pytest.mark.parametrize("kind", BROKEN)
def test_picking_broken_gpt2_weights_says_why_and_keeps_the_model(tiny_model_dir, tmp_path, monkeypatch, kind):
    damage, config, message = BROKEN[kind]
    folder = hf_folder(tmp_path / "models" / "gpt2", config)
    marker = tmp_path / "code-ran"
    if damage:
        damage(folder, marker)
    monkeypatch.setenv("GPT_EXPLAINER_MODELS_DIR", str(tmp_path / "models"))
    at = open_page("app_pages/overview.py", "ROMEO. But soft")
    at.selectbox(key="model").set_value("gpt2").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and "could not be loaded" in errors[0] and message in errors[0], errors
    assert "Traceback" not in errors[0] and len(errors[0]) < 900
    assert at.selectbox(key="model").value == "default"  # back on the model that works
    assert at.html and at.get("plotly_chart")  # and the page still shows it
    assert not marker.exists()
    at.switch_page("app_pages/model.py").run()  # other pages keep working with the previous model
    assert not at.exception and at.selectbox(key="model").value == "default"


@pytest.mark.parametrize(("change", "message"), [
    ({"config": {"n_layer": 2.5}}, "'n_layer' should be a whole number"),
    ({"tokenizer": "no-such-bpe"}, "Unknown tokenizer 'no-such-bpe'"),
    ({"meta": "notes"}, '"meta" a JSON object'),
])
def test_a_broken_default_model_is_explained_on_every_page(tmp_path, monkeypatch, change, message):
    folder = use_default_model(tmp_path / "broken", monkeypatch)
    doc = json.loads((folder / "gpt.json").read_text())
    for k, v in change.items():
        doc[k] = doc[k] | v if isinstance(v, dict) else v
    (folder / "gpt.json").write_text(json.dumps(doc))
    for page in ("app_pages/overview.py", "app_pages/tokens.py", "app_pages/model.py"):
        at = open_page(page, "ROMEO. But soft")
        assert not at.exception, (page, [e.value for e in at.exception])
        assert any("could not be loaded" in e.value and message in e.value for e in at.sidebar.error)
        assert any("No model is loaded" in e.value for e in at.main.error)


def test_a_checkpoint_with_a_tensor_of_the_wrong_shape_is_explained(tmp_path, monkeypatch):
    folder = use_default_model(tmp_path / "shape", monkeypatch)
    torch.manual_seed(0)
    other = save_checkpoint(GPT(GPTConfig(n_layer=2, n_head=2, n_embd=16, block_size=64, vocab_size=1024)),
                            tmp_path / "other", "shakespeare_bpe")
    (folder / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    at = open_page("app_pages/overview.py", "ROMEO. But soft")
    assert not at.exception
    assert any("has shape" in e.value and "expected" in e.value for e in at.sidebar.error)
