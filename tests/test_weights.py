"""Checkpoints: our own format, Hugging Face GPT-2 layout, and clear errors for bad files."""

import json

import pytest
import torch
from safetensors.torch import save_file

import gpt_core
from gpt_core import GPT, CheckpointError, GPTConfig, load_checkpoint, load_hf_folder, save_checkpoint
from gpt_core.weights import to_hf_state_dict

CFG = GPTConfig(n_layer=2, n_head=2, n_embd=16, block_size=32, vocab_size=1024)


@pytest.fixture()
def model():
    torch.manual_seed(3)
    return GPT(CFG).eval()


@pytest.fixture()
def idx():
    return torch.randint(0, CFG.vocab_size, (1, 12), generator=torch.Generator().manual_seed(0))


def _hf_config(cfg: GPTConfig) -> dict:
    return {"model_type": "gpt2", "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
            "n_positions": cfg.block_size, "vocab_size": cfg.vocab_size, "layer_norm_epsilon": 1e-5}


def _write_hf(folder, model, fmt="safetensors"):
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(_hf_config(model.config)))
    state = to_hf_state_dict(model)
    state.pop("lm_head.weight")  # tied: HF checkpoints store it once, as wte
    # HF's GPT2Model keys have no "transformer." prefix and carry the causal-mask buffers
    state = {k.removeprefix("transformer."): v for k, v in state.items()}
    state["h.0.attn.bias"] = torch.ones(1, 1, model.config.block_size, model.config.block_size).tril()
    if fmt == "safetensors":
        save_file(state, str(folder / "model.safetensors"))
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_own_checkpoint_round_trip(tmp_path, model, idx):
    save_checkpoint(model, tmp_path, "shakespeare_bpe", {"name": "t"})
    again, tok, meta = load_checkpoint(tmp_path)
    assert tok == "shakespeare_bpe" and meta["name"] == "t"
    assert torch.equal(again(idx)[0], model(idx)[0])


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_hugging_face_layout_round_trip_gives_identical_logits(tmp_path, model, idx, fmt):
    again = load_hf_folder(_write_hf(tmp_path / "hf", model, fmt))
    with torch.no_grad():
        assert torch.equal(again(idx)[0], model(idx)[0])


def test_load_model_reads_a_folder_in_either_format(tmp_path, model, idx):
    save_checkpoint(model, tmp_path / "own", "shakespeare_bpe")
    torch.manual_seed(0)
    _write_hf(tmp_path / "hf", GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=50257)))
    own = gpt_core.load_model(str(tmp_path / "own"), device="cpu")
    hf = gpt_core.load_model(str(tmp_path / "hf"), device="cpu")
    assert own.tokenizer.name == "shakespeare_bpe" and hf.tokenizer.name == "r50k_base"
    assert own.info.n_params == model.num_parameters()
    logits, cache = own.model.run_with_cache(idx)
    assert cache["blocks.0.attn.hook_pattern"].shape == (1, CFG.n_head, 12, 12)
    assert not any(p.requires_grad for p in own.model.parameters())


def test_missing_file_is_named(tmp_path, model):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors is missing"):
        load_checkpoint(tmp_path)


def test_truncated_safetensors_is_refused_clearly(tmp_path, model):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    f = tmp_path / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path)


def test_wrong_shape_is_named(tmp_path, model):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    doc = json.loads((tmp_path / "gpt.json").read_text())
    doc["config"]["n_embd"] = 32
    (tmp_path / "gpt.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(tmp_path)


def test_corrupt_json_is_refused(tmp_path, model):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    (tmp_path / "gpt.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path)


def test_pickle_with_code_is_refused(tmp_path, model):
    folder = _write_hf(tmp_path / "hf", model, "bin")

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"x": Evil()}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="could not be read safely"):
        load_hf_folder(folder)


def test_unknown_model_name_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(gpt_core.ModelNotAvailable, match="`python -m gpt_core.download gpt2-medium`"):
        gpt_core.load_model("gpt2-medium")
