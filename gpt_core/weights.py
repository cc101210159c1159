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
import math
import re
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
    except RecursionError:
        raise CheckpointError(f"{path} is nested too deeply to be a model description.") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path} should hold a JSON object.")
    return doc


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about values read from a file."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_WHOLE = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size", "d_mlp_mult")
_REAL = ("layer_norm_eps", "dropout")
_FLAGS = ("final_layer_norm", "tie_word_embeddings")


def config_from_dict(d: object, source: Path) -> GPTConfig:
    """The GPTConfig a checkpoint's JSON describes; wrong types and shapes no GPT can have are refused.

    JSON lets ``"n_layer": 2.5`` or ``"n_head": "12"`` through, and the model would fail later with a
    bare TypeError, so every field is checked here and the message names the file and the field.
    """
    if not isinstance(d, dict):
        raise CheckpointError(f"{source}: the config should be a JSON object, not {type(d).__name__}.")
    for k in _WHOLE:
        if k in d and (isinstance(d[k], bool) or not isinstance(d[k], int)):
            raise CheckpointError(f"{source}: config field {k!r} should be a whole number, got {_shown(d[k])}.")
    for k in _REAL:
        if k in d and (isinstance(d[k], bool) or not isinstance(d[k], int | float) or not math.isfinite(d[k])):
            raise CheckpointError(f"{source}: config field {k!r} should be a number, got {_shown(d[k])}.")
    for k in _FLAGS:
        if k in d and not isinstance(d[k], bool):
            raise CheckpointError(f"{source}: config field {k!r} should be true or false, got {_shown(d[k])}.")
    try:
        config = GPTConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source} has an invalid config ({e}).") from None
    if config.n_embd % config.n_head:
        raise CheckpointError(
            f"{source}: n_embd {config.n_embd} is not divisible by n_head {config.n_head}, so the heads cannot "
            f"share the width equally."
        )
    if config.layer_norm_eps <= 0 or not 0 <= config.dropout < 1 or config.d_mlp_mult < 1:
        raise CheckpointError(f"{source}: layer_norm_eps must be above 0, dropout in [0, 1) and d_mlp_mult ≥ 1.")
    if config.norm_position != "pre" or not config.final_layer_norm:
        raise CheckpointError(f"{source}: only GPT-2-style models (pre-norm, with a final LayerNorm) can be loaded.")
    return config


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e}).") from None


def _bin_problem(path: Path, error: Exception) -> str:
    """One sentence for a pytorch_model.bin that torch.load(weights_only=True) refused.

    torch's own message is a page long and suggests weights_only=False, which would run the file's code.
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # torch colours part of its message
    detail = (text.partition("WeightsUnpickler error:")[2] or text).strip()
    detail = detail.splitlines()[0][:200] if detail else type(error).__name__
    found = re.search(r"Unsupported global: GLOBAL (\S+)", detail)
    if found:
        return (f"{path} could not be read safely: besides tensors it holds pickled Python objects "
                f"({found.group(1)}), and unpickling them could run code, so it was not loaded. "
                f"Use the model's {WEIGHTS} instead.")
    return f"{path} could not be read safely as tensors: it is damaged or not a PyTorch weights file ({detail})."


def _read_bin(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad pickles; all mean the same here
        raise CheckpointError(_bin_problem(path, e)) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise CheckpointError(f"{path} does not hold a dictionary of named tensors.")
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
        if not state[k].is_floating_point():
            raise CheckpointError(f"{source}: tensor {k!r} holds {state[k].dtype} values, not floating-point weights.")
        if not torch.isfinite(state[k]).all():
            raise CheckpointError(f"{source}: tensor {k!r} contains NaN or infinite values.")
    model.load_state_dict({k: state[k].to(t.dtype) for k, t in expected.items()})


def load_checkpoint(folder: str | Path) -> tuple[GPT, str, dict]:
    """Load the project's own checkpoint: returns (model on CPU in eval mode, tokenizer name, meta)."""
    folder = Path(folder)
    doc = read_json(folder / OWN_CONFIG)
    if doc.get("format") != FORMAT or "config" not in doc:
        raise CheckpointError(f"{folder / OWN_CONFIG} is not a checkpoint description ({FORMAT}).")
    config = config_from_dict(doc["config"], folder / OWN_CONFIG)
    tokenizer, meta = doc.get("tokenizer", "r50k_base"), doc.get("meta", {})
    if not isinstance(tokenizer, str) or not isinstance(meta, dict):
        raise CheckpointError(f"{folder / OWN_CONFIG}: \"tokenizer\" should be a name and \"meta\" a JSON object.")
    state = _read_safetensors(folder / WEIGHTS)
    model = GPT(config)
    _load_into(model, state, folder / WEIGHTS)
    return model.eval(), tokenizer, dict(meta)


def hf_config_to_gpt(doc: dict, source: Path) -> GPTConfig:
    """GPTConfig from a Hugging Face GPT-2 config.json."""
    missing = [k for k in ("n_layer", "n_head", "n_embd", "vocab_size") if k not in doc]
    if missing:
        raise CheckpointError(f"{source} is not a GPT-2 config (missing field {missing[0]!r}).")
    return config_from_dict(
        {
            "n_layer": doc["n_layer"],
            "n_head": doc["n_head"],
            "n_embd": doc["n_embd"],
            "block_size": doc.get("n_positions", doc.get("n_ctx", 1024)),
            "vocab_size": doc["vocab_size"],
            "layer_norm_eps": doc.get("layer_norm_epsilon", 1e-5),
        },
        source,
    )


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
