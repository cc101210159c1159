"""load_model: one call that returns a ready model, its tokenizer and a description of both."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import PRESETS, GPTConfig, count_parameters
from .costs import FP32, available_memory, free_device_memory, loading_peak_bytes
from .devices import choose_device
from .explained import Explained
from .model import GPT
from .tokenizer import ASSETS_DIR, Tokenizer, get_tokenizer
from .weights import (
    HF_CONFIG,
    OWN_CONFIG,
    CheckpointError,
    config_from_dict,
    hf_config_to_gpt,
    load_checkpoint,
    load_hf_folder,
    read_json,
)

DEFAULT_MODEL_DIR = ASSETS_DIR / "models" / "default"
GPT2_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


class ModelNotAvailable(Explained, LookupError):
    """The weights asked for are not on this machine; the message says how to get them."""


class NotEnoughMemory(ModelNotAvailable):
    """The weights are here but the machine has too little free memory to load them."""


MODELS_DIR_ENV = "GPT_EXPLAINER_MODELS_DIR"
SKIP_MEMORY_CHECK_ENV = "GPT_EXPLAINER_SKIP_MEMORY_CHECK"
PACK_MB_ENV = "GPT_EXPLAINER_PACK_MB"  # CPU models with at most this many MB of weights are pre-packed
PACK_MB_DEFAULT = 1024  # GPT-2 small (498 MB) is, GPT-2 medium (1.4 GB) is not: packing doubles the weights
# ... and at least this many: the first pass at each new prompt length sets up the packed multiplies (about
# 3.5 ms on 2 cores), which the shipped model's small matrices never win back (bench/packed_first_pass.py).
PACK_MIN_BYTES = 100e6


def pack_limit_bytes() -> float:
    """Bytes of weights up to which load_model pre-packs a CPU model's linear layers (GPT.pack_for_inference)."""
    try:
        return float(os.environ.get(PACK_MB_ENV, PACK_MB_DEFAULT)) * 1e6
    except ValueError:
        return PACK_MB_DEFAULT * 1e6


def models_dir() -> Path:
    """Where GPT-2 folders are looked for and downloaded to: $GPT_EXPLAINER_MODELS_DIR, else
    ~/.cache/gpt-explainer/models. Each model is a subfolder named like the model (gpt2, gpt2-medium, ...)."""
    env = os.environ.get(MODELS_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gpt-explainer" / "models"


UNKNOWN_DATA = "unknown"  # what a model folder that records nothing about its training data says


@dataclass(frozen=True)
class ModelInfo:
    name: str
    source: str  # where the weights were read from
    n_params: int
    tokenizer: str
    trained_on: str
    description: str
    device: str
    load_seconds: float
    meta: dict = field(default_factory=dict)  # everything the checkpoint recorded

    @property
    def param_counts(self) -> dict[str, int]:
        return dict(self.meta.get("param_counts", {}))


@dataclass(frozen=True)
class ModelBundle:
    model: GPT
    tokenizer: Tokenizer
    info: ModelInfo


def _hf_cache_folder(name: str) -> Path | None:
    """A snapshot folder of ``name`` in the local Hugging Face cache, if one is complete."""
    roots = [os.environ.get("HF_HUB_CACHE"), os.environ.get("HF_HOME") and str(Path(os.environ["HF_HOME"]) / "hub"),
             str(Path.home() / ".cache" / "huggingface" / "hub")]
    for root in filter(None, roots):
        snaps = Path(root) / f"models--{name.replace('/', '--')}" / "snapshots"
        for snap in sorted(snaps.glob("*")) if snaps.is_dir() else []:
            if (snap / HF_CONFIG).is_file() and ((snap / "model.safetensors").is_file()
                                                 or (snap / "pytorch_model.bin").is_file()):
                return snap
    return None


def find_weights(name: str) -> Path:
    """Where the weights for a model name or folder live on this machine, without downloading."""
    if name == "default":
        return DEFAULT_MODEL_DIR
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if name in GPT2_NAMES:
        env = os.environ.get(MODELS_DIR_ENV)
        if env and (Path(env) / name / HF_CONFIG).is_file():
            return Path(env) / name
        for repo in (name, "openai-community/" + name):
            cached = _hf_cache_folder(repo)
            if cached is not None:
                return cached
        mine = models_dir() / name  # where `python -m gpt_core.download` and the app's button put them
        if (mine / HF_CONFIG).is_file() and (mine / "model.safetensors").is_file():
            return mine
        raise ModelNotAvailable(
            f"The {name} weights are not on this machine. On a machine with internet access, run "
            f"`python -m gpt_core.download {name}`; it saves them in {models_dir() / name}, where the app "
            f"finds them. Or point {MODELS_DIR_ENV} at a folder holding {name}/config.json and "
            f"{name}/model.safetensors.",
            "weights_missing", name=name, folder=str(models_dir() / name), env=MODELS_DIR_ENV,
        )
    raise ModelNotAvailable(f"No model named {name!r} and no folder at that path.", "no_model", name=repr(name))


def peek_config(folder: Path) -> GPTConfig:
    """The shape of the model in ``folder``, read from its small JSON file without touching the weights."""
    if (folder / OWN_CONFIG).is_file():
        return config_from_dict(read_json(folder / OWN_CONFIG).get("config", {}), folder / OWN_CONFIG)
    if (folder / HF_CONFIG).is_file():
        return hf_config_to_gpt(read_json(folder / HF_CONFIG), folder / HF_CONFIG)
    raise CheckpointError(f"{folder} holds neither {OWN_CONFIG} nor {HF_CONFIG}.")


def check_memory(config: GPTConfig, device: torch.device, label: str = "This model") -> None:
    """Raise NotEnoughMemory, before anything is loaded, when the machine lacks the memory to load ``config``.

    Set GPT_EXPLAINER_SKIP_MEMORY_CHECK=1 to load anyway (for example on a machine with ample swap).
    """
    if os.environ.get(SKIP_MEMORY_CHECK_ENV):
        return
    gb = 1e9
    need, free = loading_peak_bytes(config), available_memory()
    params = f"{count_parameters(config)['total']:,}"
    if free is not None and need > free:
        raise NotEnoughMemory(
            f"{label} needs about {need / gb:.1f} GB of memory while loading ({params} "
            f"parameters × 4 bytes, held twice while the file is copied into the model) but this machine has "
            f"{free / gb:.1f} GB free. Close other programs or choose a smaller model; set "
            f"{SKIP_MEMORY_CHECK_ENV}=1 to try anyway.",
            "memory", model=label, need=f"{need / gb:.1f}", params=params, free=f"{free / gb:.1f}",
            env=SKIP_MEMORY_CHECK_ENV,
        )
    on_device, free_dev = count_parameters(config)["total"] * FP32, free_device_memory(device)
    if free_dev is not None and on_device > free_dev:
        raise NotEnoughMemory(
            f"{label} needs {on_device / gb:.1f} GB on {device} for its weights but only {free_dev / gb:.1f} GB is "
            f"free there. Set GPT_EXPLAINER_DEVICE=cpu to run it on the processor instead.",
            "device_memory", model=label, need=f"{on_device / gb:.1f}", device=str(device),
            free=f"{free_dev / gb:.1f}",
        )


def load_model(name: str = "default", device: str | None = None) -> ModelBundle:
    """Load a model by name ("default", "gpt2", "gpt2-medium", ...) or from a folder.

    A folder may be in the project's checkpoint format (gpt.json + model.safetensors) or in
    Hugging Face GPT-2 layout (config.json + model.safetensors or pytorch_model.bin).
    """
    t0 = time.perf_counter()
    folder = find_weights(name)
    dev = choose_device(device)
    check_memory(peek_config(folder), dev, PRESETS[name].family + f" ({name})" if name in PRESETS else str(folder))
    if (folder / OWN_CONFIG).is_file():
        model, tok_name, meta = load_checkpoint(folder)
    elif (folder / HF_CONFIG).is_file():
        model, tok_name, meta = load_hf_folder(folder), "r50k_base", {}
    else:
        raise CheckpointError(f"{folder} holds neither {OWN_CONFIG} nor {HF_CONFIG}.")
    try:
        tokenizer = get_tokenizer(tok_name)
    except ValueError as e:
        raise CheckpointError(f"{folder / OWN_CONFIG}: {e}") from None
    if tokenizer.n_vocab > model.config.vocab_size:
        raise CheckpointError(
            f"{folder}: tokenizer {tok_name} has {tokenizer.n_vocab} tokens but the model only "
            f"{model.config.vocab_size} embeddings."
        )
    model = model.to(dev).eval()
    for p in model.parameters():
        p.requires_grad_(False)  # a loaded model is only read, never trained in place
    if dev.type == "cpu" and PACK_MIN_BYTES <= model.num_parameters() * FP32 <= pack_limit_bytes():
        model.pack_for_inference()  # before the model is shared: faster forward passes over prompts
    counts = count_parameters(model.config)
    display = meta.get("name") or (PRESETS[name].family + f" ({name})" if name in PRESETS else folder.name)
    trained_on = meta.get("trained_on") or (PRESETS[name].training_data if name in PRESETS else UNKNOWN_DATA)
    info = ModelInfo(
        name=str(display),
        source=str(folder),
        n_params=counts["total"],
        tokenizer=tokenizer.name,
        trained_on=str(trained_on),
        description=str(meta.get("description", "")),
        device=str(dev),
        load_seconds=time.perf_counter() - t0,
        meta={**meta, "param_counts": counts},
    )
    return ModelBundle(model, tokenizer, info)


def forward_with_cache(bundle: ModelBundle, ids: list[int]):
    """(logits (T, V) on CPU, ActivationCache) for one sequence of ids."""
    idx = torch.tensor([ids], dtype=torch.long, device=bundle.model.device)
    logits, cache = bundle.model.run_with_cache(idx)
    return logits[0].cpu(), cache
