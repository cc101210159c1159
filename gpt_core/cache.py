"""ActivationCache: the named intermediates of one forward pass.

Plain CPU tensors in a dict, in the order they were computed, with no reference to the model,
so a cache can be stored by Streamlit's cache, pickled, and shared safely.

Six activations per layer are not kept but recomputed when read, with the very operations the
forward pass used on the very tensors it used, so the numbers are the same to the last bit (see
RECOMPUTED): the pre-softmax attention scores (at long prompts they were half of all the memory),
each head's output z, the residual stream between attention and MLP, both LayerNorm outputs and the
MLP's GELU output. Their inputs are kept, plus each LayerNorm's γ, β and ε (2 × d_model + 1 numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
import torch.nn.functional as F

Norm = tuple[torch.Tensor, torch.Tensor, float]  # a LayerNorm's weight γ, bias β and ε


def _scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    from .model import attention_scores  # model.py imports this module; import at call time

    return attention_scores(q.transpose(1, 2), k.transpose(1, 2))  # (B, T, nh, hs) each -> (B, nh, T, T)


def _z(pattern: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (pattern @ v.transpose(1, 2)).transpose(1, 2)  # (B, nh, T, T) @ (B, nh, T, hs) -> (B, T, nh, hs)


def _layer_norm(x: torch.Tensor, norm: Norm) -> torch.Tensor:
    weight, bias, eps = norm
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)  # what nn.LayerNorm's forward calls


def _gelu(pre: torch.Tensor) -> torch.Tensor:
    from .model import gelu

    return gelu(pre)


# Suffix of a recomputed name -> (suffixes of what it is computed from, how). An input is another
# activation of the same layer (stored or itself recomputed) or, for "ln1" and "ln2", that LayerNorm's γ, β, ε.
RECOMPUTED: dict[str, tuple[tuple[str, ...], Callable[..., torch.Tensor]]] = {
    "ln1.hook_normalized": (("hook_resid_pre", "ln1"), _layer_norm),
    "attn.hook_attn_scores": (("attn.hook_q", "attn.hook_k"), _scores),
    "attn.hook_z": (("attn.hook_pattern", "attn.hook_v"), _z),
    "hook_resid_mid": (("hook_resid_pre", "hook_attn_out"), torch.add),
    "ln2.hook_normalized": (("hook_resid_mid", "ln2"), _layer_norm),
    "mlp.hook_post": (("mlp.hook_pre",), _gelu),
}


def _recipe(name: str) -> tuple[list[str], Callable[..., torch.Tensor]] | None:
    """The inputs and the function that recompute ``name``, or None when it is always stored."""
    for suffix, (inputs, fn) in RECOMPUTED.items():
        if name.endswith("." + suffix):
            prefix = name[: -len(suffix)]
            return [prefix + i for i in inputs], fn
    return None


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
    """Read-only mapping from activation name to tensor (see DESIGN.md for shapes).

    ``tensors`` holds what was kept; ``names`` (default: the keys of ``tensors``) is every name the
    cache answers, in order, and may include names in RECOMPUTED whose inputs were kept; ``norms``
    maps "blocks.{l}.ln1" and "blocks.{l}.ln2" to the LayerNorm's (γ, β, ε) for those that need them.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], names: Iterable[str] | None = None,
                 norms: dict[str, Norm] | None = None):
        self._tensors = dict(tensors)
        self._names = list(self._tensors) if names is None else list(names)
        self._known = set(self._names)
        self._norms = dict(norms or {})
        for name in self._names:
            if not self._computable(name):
                raise ValueError(f"Activation {name!r} is neither stored nor computable from stored ones.")

    def _computable(self, name: str) -> bool:
        if name in self._tensors or name in self._norms:
            return True
        recipe = _recipe(name)
        return recipe is not None and all(self._computable(i) for i in recipe[0])

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._known:
            raise KeyError(f"No activation named {name!r}; see ActivationCache.keys().")
        return self._get(name)

    def _get(self, name: str):
        if name in self._tensors:
            return self._tensors[name]
        if name in self._norms:
            return self._norms[name]
        inputs, fn = _recipe(name)
        with torch.no_grad():
            return fn(*(self._get(i) for i in inputs))  # not kept: reading it again recomputes it

    def __contains__(self, name: object) -> bool:
        return name in self._known  # without computing anything

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def stored(self) -> list[str]:
        """The names whose tensors are kept in memory (the others are recomputed when read)."""
        return [n for n in self._names if n in self._tensors]

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
        """Memory held: each kept tensor's storage counted once (q, k and v share one; recomputed names none)."""
        storages = {}
        for t in self._tensors.values():
            s = t.untyped_storage()
            storages[(s.device, s.data_ptr())] = s.nbytes()
        return sum(storages.values())

    def __repr__(self) -> str:
        return f"ActivationCache({len(self)} activations, {self.nbytes() / 1e6:.1f} MB)"
