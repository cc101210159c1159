"""Plain-language descriptions of the loaded model, from what its checkpoint recorded."""

from __future__ import annotations

import re

import gpt_core
from gpt_core.config import PRESETS
from gpt_core.loading import UNKNOWN_DATA
from gpt_core.training import VAL_SPLIT
from ui.text import label, labels, lang
from viz.catalog import words

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


def recorded(info: gpt_core.ModelInfo, key: str, default: str = "") -> str:
    """A text the checkpoint recorded under ``key`` in the reader's language: its own translation when it has one
    (``meta["i18n"][lang][key]``), ours for the words the app itself writes into checkpoints or knows for a
    published model, else as recorded."""
    own = info.meta.get("i18n")
    own = own.get(lang()) if isinstance(own, dict) else None
    if isinstance(own, dict) and isinstance(own.get(key), str) and own[key]:
        return own[key]
    value = str(info.meta.get(key, default))
    if key == "val_split" and value == VAL_SPLIT:
        return label("model", "val_split_standard")
    if key == "trained_on" and value == UNKNOWN_DATA:
        return label("model", "trained_on_unknown")
    if key == "trained_on":
        for preset in PRESETS.values():  # a published model's training data, from figures.<lang>.md
            if value and value == preset.training_data:
                return words("presets", lang()).get(f"data.{preset.family}", value)
    return value


def model_name(info: gpt_core.ModelInfo) -> str:
    """The loaded model's name as the reader's language writes it."""
    return recorded(info, "name", info.name) or info.name


def corpus(info: gpt_core.ModelInfo) -> str:
    meta = info.meta
    if meta.get("corpus"):
        if meta.get("corpus_chars"):
            return label("common", "corpus_chars", corpus=meta["corpus"], chars=short_count(int(meta["corpus_chars"])))
        return str(meta["corpus"])
    return recorded(info, "trained_on", info.trained_on)


def summary(b: gpt_core.ModelBundle) -> str:
    """A few Markdown lines describing the model, every value taken from the bundle."""
    info, cfg = b.info, b.model.config
    lab = labels("common")
    lines = [
        lab["summary_name"].format(name=md_escape(model_name(info)), params=short_count(info.n_params),
                                   layers=cfg.n_layer, heads=cfg.n_head, d_model=cfg.n_embd),
        lab["summary_tokenizer"].format(tokenizer=md_escape(b.tokenizer.label)),
        lab["summary_corpus"].format(corpus=md_escape(corpus(info))),
    ]
    # The full held-out measurement (bench/model_quality.py) when recorded, else training's last evaluation
    loss = info.meta.get("heldout_nats_per_char", info.meta.get("val_nats_per_char"))
    if isinstance(loss, (int, float)):
        lines.append(lab["summary_loss"].format(loss=float(loss)))
    lines.append(lab["summary_context"].format(context=cfg.block_size, device=md_escape(info.device)))
    return "  \n".join(lines)


def config_rows(b: gpt_core.ModelBundle) -> list[dict]:
    """The model's shape as (setting, value, meaning) rows."""
    c, lab = b.model.config, labels("model", "config_rows")
    values = {"n_layer": c.n_layer, "n_head": c.n_head, "n_embd": c.n_embd, "d_head": c.d_head, "d_mlp": c.d_mlp,
              "block_size": c.block_size, "vocab_size": c.vocab_size}
    col = labels("model")
    rows = [{col["col_setting"]: lab[k], col["col_value"]: f"{v:,}", col["col_meaning"]: lab[k + "_meaning"]}
            for k, v in values.items()]
    return rows + [{col["col_setting"]: lab["tokenizer"], col["col_value"]: b.tokenizer.label,
                    col["col_meaning"]: lab["tokenizer_meaning"].format(name=b.tokenizer.name)}]


# What a checkpoint may record, in the order shown; the names are in the "provenance_rows" section of model.<lang>.md
_PROVENANCE = ("corpus", "corpus_chars", "tokenizer", "steps", "tokens_seen", "train_seconds", "train_loss",
               "val_loss", "val_nats_per_char", "heldout_nats_per_char", "val_split", "machine", "torch", "finished")


def provenance_rows(info: gpt_core.ModelInfo) -> list[dict]:
    """Where the weights came from, as (fact, value) rows; only facts the checkpoint recorded."""
    lab, col = labels("model", "provenance_rows"), labels("model")
    fact, value = col["col_fact"], col["col_value"]
    rows = [{fact: lab["source"], value: info.source}]
    meta = info.meta
    if not any(k in meta for k in _PROVENANCE):
        rows.append({fact: lab["trained_on"], value: recorded(info, "trained_on", info.trained_on)})
    for key in _PROVENANCE:
        if key in meta:
            v = meta[key]
            rows.append({fact: lab[key], value: f"{v:,}" if isinstance(v, int) else recorded(info, key)})
    return rows
