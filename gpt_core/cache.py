"""ActivationCache: the named intermediates of one forward pass.

Plain CPU tensors in a dict, in the order they were computed, with no reference to the model,
so a cache can be stored by Streamlit's cache, pickled, and shared safely.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch


def activation_names(n_layer: int) -> list[str]:
    """Every name run_with_cache returns, in computation order."""
    names = ["hook_embed", "hook_pos_embed"]
    for i in range(n_layer):
        p = f"blocks.{i}."
        names += [
            p + "hook_resid_pre",
            p + "ln1.hook_normalized",
            p + "attn.hook_q",
            p + "attn.hook_k",
            p + "attn.hook_v",
            p + "attn.hook_attn_scores",
            p + "attn.hook_pattern",
            p + "attn.hook_z",
            p + "hook_attn_out",
            p + "hook_resid_mid",
            p + "ln2.hook_normalized",
            p + "mlp.hook_pre",
            p + "mlp.hook_post",
            p + "hook_mlp_out",
            p + "hook_resid_post",
        ]
    names.append("ln_final.hook_normalized")
    return names


class ActivationCache(Mapping[str, torch.Tensor]):
    """Read-only mapping from activation name to tensor (see DESIGN.md for shapes)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self._tensors = dict(tensors)

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(f"No activation named {name!r}; see ActivationCache.keys().") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    @property
    def n_layer(self) -> int:
        return sum(1 for k in self._tensors if k.endswith(".hook_resid_post"))

    def pattern(self, layer: int, batch: int = 0) -> torch.Tensor:
        """Attention pattern of one layer: (head, query_pos, key_pos)."""
        return self[f"blocks.{layer}.attn.hook_pattern"][batch]

    def resid_stack(self, batch: int = 0) -> torch.Tensor:
        """Residual stream before block 0 and after every block: (n_layer + 1, pos, d_model)."""
        first = self["blocks.0.hook_resid_pre"][batch]
        rest = [self[f"blocks.{i}.hook_resid_post"][batch] for i in range(self.n_layer)]
        return torch.stack([first, *rest])

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._tensors.values())

    def __repr__(self) -> str:
        return f"ActivationCache({len(self)} activations, {self.nbytes() / 1e6:.1f} MB)"
