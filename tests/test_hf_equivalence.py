"""A random tiny GPT-2 made by Hugging Face `transformers` loads through our loader and computes the same thing.

No download: the model is built from a config and saved by transformers itself (safetensors) and as its
state dict (pytorch_model.bin, the layout transformers used to write and still reads).
"""

import json

import pytest
import torch
import transformers  # a test-only dependency (requirements-dev.txt)

import gpt_core
from gpt_core import CheckpointError, load_hf_folder

TOL = 1e-4
IDS = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13, 50000, 0, 198, 50256]


@pytest.fixture(scope="module")
def hf_model():
    """GPT2LMHeadModel with random weights, every parameter (biases and LayerNorms too) moved off its init."""
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=50257,
                                  attn_implementation="eager")
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.fixture(scope="module")
def hf_out(hf_model):
    with torch.no_grad():
        return hf_model(torch.tensor([IDS]), output_attentions=True)


@pytest.fixture(scope="module")
def folders(hf_model, tmp_path_factory):
    """{"safetensors": folder written by save_pretrained, "bin": config.json + pytorch_model.bin}."""
    st_dir = tmp_path_factory.mktemp("hf_safetensors")
    hf_model.save_pretrained(st_dir)
    bin_dir = tmp_path_factory.mktemp("hf_bin")
    hf_model.config.save_pretrained(bin_dir)
    torch.save(hf_model.state_dict(), bin_dir / "pytorch_model.bin")
    assert (st_dir / "model.safetensors").is_file() and not (bin_dir / "model.safetensors").exists()
    return {"safetensors": st_dir, "bin": bin_dir}


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_logits_match_transformers(folders, hf_out, fmt):
    bundle = gpt_core.load_model(str(folders[fmt]), device="cpu")
    logits, _ = bundle.model.run_with_cache(torch.tensor([IDS]))
    assert logits.shape == hf_out.logits.shape
    assert (logits - hf_out.logits).abs().max().item() < TOL
    assert bundle.tokenizer.name == "r50k_base"


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_attention_patterns_match_transformers(folders, hf_out, fmt):
    model = load_hf_folder(folders[fmt])
    _, cache = model.run_with_cache(torch.tensor([IDS]))
    assert len(hf_out.attentions) == model.config.n_layer
    for layer, theirs in enumerate(hf_out.attentions):
        ours = cache[f"blocks.{layer}.attn.hook_pattern"]
        assert ours.shape == theirs.shape  # (batch, head, query, key)
        assert (ours - theirs).abs().max().item() < TOL


def test_bin_folder_is_what_transformers_reads(folders, hf_model):
    again = transformers.GPT2LMHeadModel.from_pretrained(folders["bin"]).eval()
    x = torch.tensor([IDS])
    with torch.no_grad():
        assert (again(x).logits - hf_model(x).logits).abs().max().item() < 1e-6


def test_parameter_count_matches_transformers(folders, hf_model):
    ours = load_hf_folder(folders["safetensors"])
    assert ours.num_parameters() == hf_model.num_parameters() == gpt_core.n_params(ours.config)


def _copy(folder, tmp_path, name):
    out = tmp_path / name
    out.mkdir()
    for f in folder.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    return out


@pytest.mark.parametrize("fmt,weights,message", [
    ("safetensors", "model.safetensors", "not a readable safetensors file"),
    ("bin", "pytorch_model.bin", "could not be read safely"),
])
def test_truncated_file_is_refused_clearly(folders, tmp_path, fmt, weights, message):
    folder = _copy(folders[fmt], tmp_path, "cut")
    data = (folder / weights).read_bytes()
    (folder / weights).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=message) as err:
        gpt_core.load_model(str(folder), device="cpu")
    assert weights in str(err.value)


def test_tampered_safetensors_header_is_refused(folders, tmp_path):
    folder = _copy(folders["safetensors"], tmp_path, "header")
    data = bytearray((folder / "model.safetensors").read_bytes())
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    name = next(k for k in header if k.endswith("ln_f.weight"))
    header[name]["shape"] = [33]  # claims one number more than its bytes hold
    raw = json.dumps(header).encode().ljust(n)[:n]
    data[8 : 8 + n] = raw
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_hf_folder(folder)


def test_tampered_values_are_refused(folders, tmp_path, hf_model):
    folder = _copy(folders["bin"], tmp_path, "nan")
    state = {k: v.clone() for k, v in hf_model.state_dict().items()}
    state["transformer.h.1.mlp.c_fc.weight"][0, 0] = float("nan")
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_hf_folder(folder)


def test_tensor_swapped_for_another_shape_is_named(folders, tmp_path, hf_model):
    folder = _copy(folders["bin"], tmp_path, "shape")
    state = dict(hf_model.state_dict())
    state["transformer.h.0.attn.c_attn.weight"] = torch.zeros(32, 32)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="c_attn.weight.*shape"):
        load_hf_folder(folder)


def test_config_that_does_not_fit_the_weights_is_refused(folders, tmp_path):
    folder = _copy(folders["safetensors"], tmp_path, "config")
    doc = json.loads((folder / "config.json").read_text())
    doc["n_embd"] = 64
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="shape"):
        load_hf_folder(folder)
