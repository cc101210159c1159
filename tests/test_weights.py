"""Checkpoints: our own format, Hugging Face GPT-2 layout, and clear errors for bad files."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

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


# --- hostile and broken files: each is refused with one sentence naming the file, and runs no code -------------


class WritesMarker:
    """Unpickling this would run ``exec`` and create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("where", ["in_dict", "top_level", "legacy_format"])
def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, model, where):
    folder, marker = _write_hf(tmp_path / "hf", model, "bin"), tmp_path / "code-ran"
    payload = WritesMarker(marker)
    if where == "in_dict":
        torch.save({**to_hf_state_dict(model), "x": payload}, folder / "pytorch_model.bin")
    else:
        torch.save(payload, folder / "pytorch_model.bin", _use_new_zipfile_serialization=where == "top_level")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin could not be read safely.*pickled Python objects "
                                              r"\(exec\).*could run code") as e:
        gpt_core.load_model(str(folder), device="cpu")
    assert not marker.exists()
    assert "weights_only" not in str(e.value) and "\x1b" not in str(e.value)  # no advice to turn the check off


def test_a_whole_pickled_model_object_is_refused(tmp_path, model):
    folder = _write_hf(tmp_path / "hf", model, "bin")
    torch.save(model, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pickled Python objects \(gpt_core\.model\.GPT\)"):
        load_hf_folder(folder)


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_truncated_garbage_and_empty_weight_files_are_refused(tmp_path, model, fmt, damage):
    folder = _write_hf(tmp_path / "hf", model, fmt)
    f = folder / ("model.safetensors" if fmt == "safetensors" else "pytorch_model.bin")
    data = f.read_bytes()
    f.write_bytes({"truncated": data[: len(data) // 2], "garbage": bytes(range(256)) * 64, "empty": b""}[damage])
    refused = "is not a readable safetensors file" if fmt == "safetensors" else "could not be read safely as tensors"
    with pytest.raises(CheckpointError, match=f"{f.name} {refused}"):
        gpt_core.load_model(str(folder), device="cpu")


def test_a_bin_that_is_not_a_dictionary_of_named_tensors_is_refused(tmp_path, model):
    folder = _write_hf(tmp_path / "hf", model, "bin")
    for content in ([torch.zeros(2)], {1: torch.zeros(2)}, {"wte": [1, 2]}):
        torch.save(content, folder / "pytorch_model.bin")
        with pytest.raises(CheckpointError, match="does not hold a dictionary of named tensors"):
            load_hf_folder(folder)


def test_a_tensor_of_the_wrong_shape_in_the_safetensors_is_named(tmp_path, model):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    state = load_file(str(tmp_path / "model.safetensors"))
    state["transformer.h.1.mlp.c_fc.weight"] = torch.zeros(64, 15)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"'transformer\.h\.1\.mlp\.c_fc\.weight' has shape \(64, 15\), "
                                              r"expected \(64, 16\)"):
        gpt_core.load_model(str(tmp_path), device="cpu")


def test_integer_weights_are_refused(tmp_path, model):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    state = load_file(str(tmp_path / "model.safetensors"))
    state["transformer.wte.weight"] = state["transformer.wte.weight"].long()
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="holds torch.int64 values, not floating-point weights"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(("change", "message"), [
    ({"n_layer": "2"}, "'n_layer' should be a whole number, got '2'"),
    ({"n_layer": 2.5}, "'n_layer' should be a whole number, got 2.5"),
    ({"n_head": None}, "'n_head' should be a whole number, got None"),
    ({"n_embd": True}, "'n_embd' should be a whole number, got True"),
    ({"vocab_size": [1024]}, "'vocab_size' should be a whole number"),
    ({"block_size": "x" * 500}, "'block_size' should be a whole number, got 'xxxx"),
    ({"n_layer": 0}, "must be a positive integer"),
    ({"n_head": 3}, "n_embd 16 is not divisible by n_head 3"),
    ({"layer_norm_eps": "1e-5"}, "'layer_norm_eps' should be a number"),
    ({"layer_norm_eps": float("nan")}, "'layer_norm_eps' should be a number"),
    ({"dropout": 1.5}, "dropout in \\[0, 1\\)"),
    ({"tie_word_embeddings": "yes"}, "'tie_word_embeddings' should be true or false"),
    ({"norm_position": "post"}, "only GPT-2-style models"),
])
def test_gpt_json_with_wrong_types_is_refused_by_field(tmp_path, model, change, message):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    doc = json.loads((tmp_path / "gpt.json").read_text())
    doc["config"].update(change)
    (tmp_path / "gpt.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"gpt\.json.*" + message) as e:
        gpt_core.load_model(str(tmp_path), device="cpu")
    assert len(str(e.value)) < 300  # a long value read from the file is cut short


@pytest.mark.parametrize(("change", "message"), [
    ({"config": [2, 2, 16]}, "the config should be a JSON object, not list"),
    ({"meta": "made by hand"}, '"meta" a JSON object'),
    ({"tokenizer": 5}, '"tokenizer" should be a name'),
    ({"tokenizer": "no-such-bpe"}, "Unknown tokenizer 'no-such-bpe'"),
])
def test_gpt_json_with_wrong_parts_is_refused(tmp_path, model, change, message):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    doc = json.loads((tmp_path / "gpt.json").read_text())
    (tmp_path / "gpt.json").write_text(json.dumps(doc | change))
    with pytest.raises(CheckpointError, match=r"gpt\.json.*" + message):
        gpt_core.load_model(str(tmp_path), device="cpu")


@pytest.mark.parametrize("text", ["[" * 100_000, "\xff\xfe garbage", "[1, 2]", ""])
def test_gpt_json_that_is_not_a_json_object_is_refused(tmp_path, model, text):
    save_checkpoint(model, tmp_path, "shakespeare_bpe")
    (tmp_path / "gpt.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(CheckpointError, match=r"gpt\.json (is not valid JSON|should hold|is nested too deeply)"):
        gpt_core.load_model(str(tmp_path), device="cpu")


@pytest.mark.parametrize(("change", "message"), [
    ({"n_layer": 1.5}, "'n_layer' should be a whole number"),
    ({"n_head": "2"}, "'n_head' should be a whole number"),
    ({"n_head": 3}, "not divisible by n_head 3"),
])
def test_hugging_face_config_with_wrong_types_is_refused(tmp_path, model, change, message):
    folder = _write_hf(tmp_path / "hf", model)
    (folder / "config.json").write_text(json.dumps(_hf_config(model.config) | change))
    with pytest.raises(CheckpointError, match=r"config\.json: .*" + message):
        gpt_core.load_model(str(folder), device="cpu")
