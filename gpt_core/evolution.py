"""GPT-1 → GPT-2 → GPT-3: the published figures, the counts computed here, and live examples.

Pure functions over presets, a tokenizer or an activation cache; the Evolution page draws them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from .cache import ActivationCache
from .config import PRESETS, count_parameters
from .costs import costs
from .tokenizer import get_tokenizer

_FIGURE = re.compile(r"(\d+(?:\.\d+)?)([MB])")
_UNIT = {"M": 1e6, "B": 1e9}


@dataclass(frozen=True)
class Published:
    """A parameter figure as printed, e.g. "1.3B": its value and how many decimals were printed."""

    text: str
    value: float
    unit: str
    decimals: int

    def round_like(self, n: int) -> str:
        """``n`` printed the same way (same unit, same number of decimals)."""
        return f"{n / _UNIT[self.unit]:.{self.decimals}f}{self.unit}"

    def matches(self, n: int) -> bool:
        return self.round_like(n) == self.text


def published_figures(printed: str) -> tuple[Published, Published | None]:
    """(the paper's figure, the corrected figure if one is given) from a preset's ``published_params``.

    "117M (124M counted)" → (117M, 124M): GPT-2's paper printed counts that OpenAI later corrected.
    """
    found = [Published(m.group(0), float(m.group(1)), m.group(2), len(m.group(1).partition(".")[2]))
             for m in _FIGURE.finditer(printed)]
    if not found:
        raise ValueError(f"No parameter figure like '124M' or '1.3B' in {printed!r}.")
    return found[0], (found[1] if len(found) > 1 else None)


@dataclass(frozen=True)
class Row:
    """One preset beside its published figures."""

    name: str
    family: str
    n_layer: int
    n_embd: int
    n_head: int
    block_size: int
    vocab_size: int
    tokenizer: str
    training_data: str
    source: str  # the paper, by title
    counted: int
    paper: Published
    corrected: Published | None
    flops_per_token: int  # at a full context
    note: str

    @property
    def reference(self) -> Published:
        """The figure the count should match: the corrected one where there is one."""
        return self.corrected or self.paper

    @property
    def difference(self) -> float:
        """Relative difference of the count from the reference figure (0.017 = 1.7 %)."""
        return self.counted / (self.reference.value * _UNIT[self.reference.unit]) - 1


def preset_rows() -> list[Row]:
    rows = []
    for p in PRESETS.values():
        c = p.config
        paper, corrected = published_figures(p.published_params)
        rows.append(Row(p.name, p.family, c.n_layer, c.n_embd, c.n_head, c.block_size, c.vocab_size, p.tokenizer,
                        p.training_data, p.source, count_parameters(c)["total"], paper, corrected,
                        costs(c).flops_per_token, p.notes))
    return rows


# --- live examples on the loaded model ---------------------------------------------------------------


@dataclass(frozen=True)
class NormGrowth:
    """Mean vector length per layer: the residual stream entering each block, and what the block reads."""

    resid: list[float]  # ‖x‖ of blocks.{l}.hook_resid_pre, then of the last block's output
    normalized: list[float]  # ‖ln_1(x)‖ of blocks.{l}.ln1.hook_normalized


def norm_growth(cache: ActivationCache) -> NormGrowth:
    """How the un-normalised residual stream grows while each block still reads a LayerNorm-ed copy (pre-norm)."""
    stack = cache.resid_stack()  # (n_layer + 1, pos, d_model)
    resid = stack.norm(dim=-1).mean(dim=-1)
    normed = torch.stack([cache[f"blocks.{i}.ln1.hook_normalized"][0] for i in range(cache.n_layer)])
    return NormGrowth([round(float(v), 3) for v in resid], [round(float(v), 3) for v in normed.norm(dim=-1).mean(-1)])


@dataclass(frozen=True)
class TokenCount:
    tokenizer: str
    label: str
    n_vocab: int
    n_tokens: int
    round_trip: bool  # decode(encode(text)) gives the text back


def token_counts(text: str, names: list[str]) -> list[TokenCount]:
    """How many tokens ``text`` takes under each shipped tokenizer, and whether it comes back intact."""
    out = []
    for name in names:
        tok = get_tokenizer(name)
        ids = tok.encode(text)
        out.append(TokenCount(tok.name, tok.label, tok.n_vocab, len(ids), tok.decode(ids) == text))
    return out
