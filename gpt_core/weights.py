"""Reading and writing weights.

Two formats:
- the project's own checkpoint: a folder with ``model.safetensors`` and ``gpt.json``
  (the GPTConfig, the tokenizer's name, and a description of how the model was made);
- a Hugging Face GPT-2 folder: ``config.json`` plus ``model.safetensors`` or
  ``pytorch_model.bin`` (read with ``weights_only=True``, so no pickled code runs).

Every failure raises CheckpointError with one sentence naming the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import GPTConfig
from .model import GPT

OWN_CONFIG = "gpt.json"
WEIGHTS = "model.safetensors"
HF_CONFIG = "config.json"
HF_BIN = "pytorch_model.bin"
FORMAT = "gpt-explainer-checkpoint/1"

# HF's GPT-2 uses Conv1D layers, which store weights as (in, out); nn.Linear wants (out, in).
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


class CheckpointError(ValueError):
    """A checkpoint could not be read; the message names the file and what is wrong."""


def save_checkpoint(model: GPT, folder: str | Path, tokenizer: str, meta: dict | None = None) -> Path:
    """Write ``model`` as safetensors + gpt.json into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight")  # the same tensor as wte; safetensors refuses shared storage
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(folder / WEIGHTS)  # atomic: a crash never leaves half a file under the real name
    doc = {"format": FORMAT, "config": model.config.to_dict(), "tokenizer": tokenizer, "meta": meta or {}}
    (folder / OWN_CONFIG).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return folder


def read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}).") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path} should hold a JSON object.")
    return doc


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e}).") from None


def _read_bin(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad pickles; all mean the same here
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} could not be read safely as tensors ({first[:200]}).") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a dictionary of tensors.")
    return state


def _load_into(model: GPT, state: dict[str, torch.Tensor], source: Path) -> None:
    expected = model.state_dict()
    if model.config.tie_word_embeddings:
        state = {**state, "lm_head.weight": state.get("lm_head.weight", state.get("transformer.wte.weight"))}
    missing = [k for k in expected if state.get(k) is None]
    if missing:
        raise CheckpointError(f"{source} lacks {len(missing)} tensors, for example {missing[0]!r}.")
    for k, t in expected.items():
        if tuple(state[k].shape) != tuple(t.shape):
            raise CheckpointError(
                f"{source}: tensor {k!r} has shape {tuple(state[k].shape)}, expected {tuple(t.shape)}."
            )
        if not torch.isfinite(state[k]).all():
            raise CheckpointError(f"{source}: tensor {k!r} contains NaN or infinite values.")
    model.load_state_dict({k: state[k].to(t.dtype) for k, t in expected.items()})


def load_checkpoint(folder: str | Path) -> tuple[GPT, str, dict]:
    """Load the project's own checkpoint: returns (model on CPU in eval mode, tokenizer name, meta)."""
    folder = Path(folder)
    doc = read_json(folder / OWN_CONFIG)
    if doc.get("format") != FORMAT or "config" not in doc:
        raise CheckpointError(f"{folder / OWN_CONFIG} is not a checkpoint description ({FORMAT}).")
    try:
        config = GPTConfig.from_dict(doc["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / OWN_CONFIG} has an invalid config ({e}).") from None
    state = _read_safetensors(folder / WEIGHTS)
    model = GPT(config)
    _load_into(model, state, folder / WEIGHTS)
    return model.eval(), str(doc.get("tokenizer", "r50k_base")), dict(doc.get("meta", {}))


def hf_config_to_gpt(doc: dict, source: Path) -> GPTConfig:
    """GPTConfig from a Hugging Face GPT-2 config.json."""
    try:
        return GPTConfig(
            n_layer=int(doc["n_layer"]),
            n_head=int(doc["n_head"]),
            n_embd=int(doc["n_embd"]),
            block_size=int(doc.get("n_positions", doc.get("n_ctx", 1024))),
            vocab_size=int(doc["vocab_size"]),
            layer_norm_eps=float(doc.get("layer_norm_epsilon", 1e-5)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{source} is not a GPT-2 config (missing or bad field {e}).") from None


def from_hf_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename and transpose a Hugging Face GPT-2 state dict into this project's layout."""
    out = {}
    for k, v in state.items():
        if k.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # HF's stored causal-mask buffers, not parameters
        name = k if k.startswith(("transformer.", "lm_head.")) else "transformer." + k
        out[name] = v.t() if name.endswith(_CONV1D) else v
    return out


def to_hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """This model's weights in Hugging Face GPT2LMHeadModel's layout (Conv1D weights transposed)."""
    out = {}
    for k, v in model.state_dict().items():
        out[k] = (v.t() if k.endswith(_CONV1D) else v).detach().cpu().contiguous()
    return out


def load_hf_folder(folder: str | Path) -> GPT:
    """Load a Hugging Face GPT-2 folder (config.json + model.safetensors or pytorch_model.bin)."""
    folder = Path(folder)
    config = hf_config_to_gpt(read_json(folder / HF_CONFIG), folder / HF_CONFIG)
    if (folder / WEIGHTS).is_file():
        source, state = folder / WEIGHTS, _read_safetensors(folder / WEIGHTS)
    elif (folder / HF_BIN).is_file():
        source, state = folder / HF_BIN, _read_bin(folder / HF_BIN)
    else:
        raise CheckpointError(f"{folder} holds neither {WEIGHTS} nor {HF_BIN}.")
    model = GPT(config)
    _load_into(model, from_hf_state_dict(state), source)
    return model.eval()
