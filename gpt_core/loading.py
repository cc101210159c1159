"""load_model: one call that returns a ready model, its tokenizer and a description of both."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import PRESETS, count_parameters
from .devices import choose_device
from .model import GPT
from .tokenizer import ASSETS_DIR, Tokenizer, get_tokenizer
from .weights import HF_CONFIG, OWN_CONFIG, CheckpointError, load_checkpoint, load_hf_folder

DEFAULT_MODEL_DIR = ASSETS_DIR / "models" / "default"
GPT2_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


class ModelNotAvailable(LookupError):
    """The weights asked for are not on this machine; the message says how to get them."""


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
        env = os.environ.get("GPT_EXPLAINER_MODELS_DIR")
        if env and (Path(env) / name / HF_CONFIG).is_file():
            return Path(env) / name
        for repo in (name, "openai-community/" + name):
            cached = _hf_cache_folder(repo)
            if cached is not None:
                return cached
        raise ModelNotAvailable(
            f"The {name} weights are not on this machine. With internet access, fetch them into the "
            f"Hugging Face cache with `pip install huggingface_hub && python -c \"from huggingface_hub "
            f"import snapshot_download; snapshot_download('openai-community/{name}', "
            f"allow_patterns=['config.json', 'model.safetensors'])\"`, or point GPT_EXPLAINER_MODELS_DIR "
            f"at a folder holding {name}/config.json and {name}/model.safetensors."
        )
    raise ModelNotAvailable(f"No model named {name!r} and no folder at that path.")


def load_model(name: str = "default", device: str | None = None) -> ModelBundle:
    """Load a model by name ("default", "gpt2", "gpt2-medium", ...) or from a folder.

    A folder may be in the project's checkpoint format (gpt.json + model.safetensors) or in
    Hugging Face GPT-2 layout (config.json + model.safetensors or pytorch_model.bin).
    """
    t0 = time.perf_counter()
    folder = find_weights(name)
    if (folder / OWN_CONFIG).is_file():
        model, tok_name, meta = load_checkpoint(folder)
    elif (folder / HF_CONFIG).is_file():
        model, tok_name, meta = load_hf_folder(folder), "r50k_base", {}
    else:
        raise CheckpointError(f"{folder} holds neither {OWN_CONFIG} nor {HF_CONFIG}.")
    tokenizer = get_tokenizer(tok_name)
    if tokenizer.n_vocab > model.config.vocab_size:
        raise CheckpointError(
            f"{folder}: tokenizer {tok_name} has {tokenizer.n_vocab} tokens but the model only "
            f"{model.config.vocab_size} embeddings."
        )
    dev = choose_device(device)
    model = model.to(dev).eval()
    for p in model.parameters():
        p.requires_grad_(False)  # a loaded model is only read, never trained in place
    counts = count_parameters(model.config)
    display = meta.get("name") or (PRESETS[name].family + f" ({name})" if name in PRESETS else folder.name)
    trained_on = meta.get("trained_on") or (PRESETS[name].training_data if name in PRESETS else "unknown")
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
