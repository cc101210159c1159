"""Picking where the model runs: CUDA, then Apple's MPS, then the CPU; overridable."""

from __future__ import annotations

import os

import torch


def choose_device(preference: str | None = None) -> torch.device:
    """The requested device, else $GPT_EXPLAINER_DEVICE, else the best one available.

    An unavailable request raises ValueError with a plain sentence rather than failing later.
    """
    want = (preference or os.environ.get("GPT_EXPLAINER_DEVICE") or "auto").lower()
    if want == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if want.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA GPU is available here.")
    if want == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("MPS was requested but Apple's Metal backend is not available here.")
    if not (want == "cpu" or want == "mps" or want.startswith("cuda")):
        raise ValueError(f"Unknown device {preference!r}; use cpu, cuda or mps.")
    return torch.device(want)
