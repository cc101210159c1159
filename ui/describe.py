"""Plain-language descriptions of the loaded model, from what its checkpoint recorded."""

from __future__ import annotations

import re

import gpt_core

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def md_escape(text: str) -> str:
    """Text safe to place inside Markdown: every Markdown control character backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def short_count(n: int) -> str:
    """1,234,567 -> "1.2 M"; 173,824 -> "174 K"."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return str(n)


def corpus(info: gpt_core.ModelInfo) -> str:
    meta = info.meta
    if meta.get("corpus"):
        chars = f" ({short_count(int(meta['corpus_chars']))} characters)" if meta.get("corpus_chars") else ""
        return f"{meta['corpus']}{chars}"
    return info.trained_on


def summary(b: gpt_core.ModelBundle) -> str:
    """A few Markdown lines describing the model, every value taken from the bundle."""
    info, cfg = b.info, b.model.config
    lines = [
        f"**{md_escape(info.name)}**: {short_count(info.n_params)} parameters, "
        f"{cfg.n_layer} layers × {cfg.n_head} heads, d_model {cfg.n_embd}",
        f"Tokenizer: {md_escape(b.tokenizer.label)}",
        f"Trained on: {md_escape(corpus(info))}",
    ]
    if "val_nats_per_char" in info.meta:
        lines.append(f"Held-out loss: {float(info.meta['val_nats_per_char']):.3f} nats per character")
    lines.append(f"Context: {cfg.block_size:,} tokens · running on {md_escape(info.device)}")
    return "  \n".join(lines)


def config_rows(b: gpt_core.ModelBundle) -> list[dict]:
    """The model's shape as (setting, value, meaning) rows."""
    c = b.model.config
    rows = [
        ("layers (n_layer)", c.n_layer, "transformer blocks, applied in turn"),
        ("heads (n_head)", c.n_head, "attention heads per layer"),
        ("d_model (n_embd)", c.n_embd, "length of every token's vector"),
        ("d_head", c.d_head, "d_model / n_head: each head's query, key and value size"),
        ("d_mlp", c.d_mlp, "hidden width of each MLP"),
        ("context (block_size)", c.block_size, "most tokens read at once"),
        ("vocabulary", c.vocab_size, "tokens the model can read and predict"),
    ]
    return [{"setting": s, "value": f"{v:,}", "meaning": m} for s, v, m in rows] + [
        {"setting": "tokenizer", "value": b.tokenizer.label, "meaning": f"name: {b.tokenizer.name}"}
    ]


_PROVENANCE = [
    ("corpus", "Training text"), ("corpus_chars", "Characters in it"), ("tokenizer", "Tokenizer"),
    ("steps", "Training steps"), ("tokens_seen", "Tokens seen"), ("train_seconds", "Training time (s)"),
    ("train_loss", "Training loss (nats/token)"), ("val_loss", "Held-out loss (nats/token)"),
    ("val_nats_per_char", "Held-out loss (nats/character)"), ("val_split", "Held-out text"),
    ("machine", "Trained on machine"), ("torch", "PyTorch"), ("finished", "Finished"),
]


def provenance_rows(info: gpt_core.ModelInfo) -> list[dict]:
    """Where the weights came from, as (fact, value) rows; only facts the checkpoint recorded."""
    rows = [{"fact": "Weights read from", "value": info.source}]
    meta = info.meta
    if not any(k in meta for k, _ in _PROVENANCE):
        rows.append({"fact": "Trained on", "value": info.trained_on})
    for key, label in _PROVENANCE:
        if key in meta:
            value = meta[key]
            rows.append({"fact": label, "value": f"{value:,}" if isinstance(value, int) else str(value)})
    return rows
