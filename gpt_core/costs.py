"""What a model costs: memory for its weights and its key/value cache, and FLOPs per generated token.

Everything here is computed from a GPTConfig alone (no weights needed), so it works for GPT-1,
every GPT-2 and every GPT-3 size. The machine's side (free memory, measured timings) is read
from the operating system and from a small JSON file of past measurements.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from .config import GPTConfig, count_parameters

FP32, FP16 = 4, 2  # bytes per number
LOAD_MARGIN = 256 * 2**20  # Python, the tokenizer and the first activations, on top of the weights


@dataclass(frozen=True)
class Costs:
    """Memory and compute of one model at one context length."""

    params: int
    context: int  # positions the new token attends to: the tokens before it, and itself
    weights_fp32: int  # bytes
    weights_fp16: int
    kv_per_token_fp32: int  # bytes the key/value cache grows by per token
    kv_per_token_fp16: int
    matmul_weights: int  # weights a token is multiplied by (every matrix, the output head included)
    flops_weights: int  # 2 × matmul_weights: one multiply and one add per weight
    flops_attention: int  # 4 × n_layer × context × d_model: Q·Kᵀ and the weighted sum of V

    @property
    def flops_per_token(self) -> int:
        return self.flops_weights + self.flops_attention

    @property
    def rule_of_thumb(self) -> int:
        """The usual estimate: 2 × parameters FLOPs per generated token."""
        return 2 * self.params

    def kv_bytes(self, tokens: int, bytes_per_number: int = FP32) -> int:
        per = self.kv_per_token_fp32 if bytes_per_number == FP32 else self.kv_per_token_fp16
        return tokens * per


def matmul_weights(config: GPTConfig) -> int:
    """Weights that take part in a matrix product for every token (embedding look-ups and biases do not).

    Per layer: Q, K, V and output projections (4·d²) and the MLP (2·d·d_mlp); then the output head
    (vocab × d), which multiplies every position even when it shares its matrix with the token embedding.
    """
    d = config.n_embd
    return config.n_layer * (4 * d * d + 2 * d * config.d_mlp) + config.vocab_size * d


def costs(config: GPTConfig, context: int | None = None) -> Costs:
    """Costs of generating one token at position ``context`` (default: the last one of a full context)."""
    T = config.block_size if context is None else int(context)
    if not 1 <= T <= config.block_size:
        raise ValueError(f"context must be between 1 and the model's {config.block_size} tokens, got {T}.")
    params = count_parameters(config)["total"]
    kv = 2 * config.n_layer * config.n_embd  # one key and one value vector per layer
    mm = matmul_weights(config)
    return Costs(
        params=params,
        context=T,
        weights_fp32=params * FP32,
        weights_fp16=params * FP16,
        kv_per_token_fp32=kv * FP32,
        kv_per_token_fp16=kv * FP16,
        matmul_weights=mm,
        flops_weights=2 * mm,
        # the new token's query meets T keys (itself included): Q·Kᵀ, then the weighted sum of V
        flops_attention=4 * config.n_layer * T * config.n_embd,
    )


# --- will it fit? --------------------------------------------------------------------------------


def loading_peak_bytes(config: GPTConfig) -> int:
    """Memory needed while loading: the file's tensors and the model's own copy exist at once, plus a margin."""
    return 2 * count_parameters(config)["total"] * FP32 + LOAD_MARGIN


def available_memory() -> int | None:
    """Bytes of memory the OS can give without swapping (Linux MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts in kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_device_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device; None for the CPU and other devices (their RAM is checked instead)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


# --- measurements of this machine ---------------------------------------------------------------


def measurements_path() -> Path:
    """Where timings are kept between runs: $GPT_EXPLAINER_CACHE_DIR or ~/.cache/gpt-explainer."""
    root = os.environ.get("GPT_EXPLAINER_CACHE_DIR") or Path.home() / ".cache" / "gpt-explainer"
    return Path(root) / "measurements.json"


def load_measurements() -> dict[str, dict]:
    """Every stored measurement by key ("<model>@<device>"); an unreadable file counts as empty."""
    try:
        doc = json.loads(measurements_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, dict)} if isinstance(doc, dict) else {}


def record_measurement(key: str, record: dict) -> bool:
    """Store ``record`` under ``key`` (replacing the older one); False when the file cannot be written."""
    path = measurements_path()
    doc = load_measurements()
    doc[key] = {**record, "when": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, path)  # atomic: two sessions writing at once never leave half a file
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Timing:
    """How long one model took on this machine."""

    prompt_tokens: int
    prompt_seconds: float  # one forward pass over the whole prompt
    new_tokens: int
    seconds_per_token: float  # each later token, fed alone with the key/value cache

    def as_record(self, model: str, device: str, n_params: int) -> dict:
        return {"model": model, "device": device, "n_params": n_params, "prompt_tokens": self.prompt_tokens,
                "prompt_seconds": self.prompt_seconds, "new_tokens": self.new_tokens,
                "seconds_per_token": self.seconds_per_token, "threads": torch.get_num_threads(),
                "torch": torch.__version__}


@torch.no_grad()
def measure(model, ids: list[int], new_tokens: int = 16) -> Timing:
    """Time a forward pass over ``ids`` and then ``new_tokens`` greedy steps with the key/value cache."""
    if not ids:
        raise ValueError("timing needs at least one token")
    new_tokens = max(0, min(new_tokens, model.config.block_size - 1))
    ids = ids[-(model.config.block_size - new_tokens):]  # room for the new tokens in the context
    t0 = time.perf_counter()
    logits, past = model(torch.tensor([ids], device=model.device), logits_for="last")
    token = logits[0, -1].argmax()
    _sync(model.device)
    prompt_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(new_tokens):
        logits, past = model(token.view(1, 1), past_kv=past)
        token = logits[0, -1].argmax()
    _sync(model.device)
    per = (time.perf_counter() - t1) / new_tokens if new_tokens else 0.0
    return Timing(len(ids), prompt_seconds, new_tokens, per)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
