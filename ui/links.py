"""Links that reopen the same view: the view's settings live in the page address (``st.query_params``).

The page is the address's path (st.navigation sets it); the rest is query parameters, one table
below: the prompt, model, language and presenter mode on every page, and each page's own settings
(layer, head, query token on Attention and Overview; the sampling settings, seed, generated tokens
and step on Generation). Only values that differ from their defaults are written, so links stay short.

Once per run, app.py calls
  ``read()``       first of all: the link's prompt, model, language and presenter mode;
  ``read_page()``  after the sidebar: the page's settings, checked against the loaded model;
  ``write()``      after the page (and at the end of a page's fragments): the view, into the address.
The address is applied on a session's first run and whenever it is not one the app wrote lately
(a link opened into the session, the browser's Back); otherwise the widgets stay in control.

A value the app cannot use (an unknown model, layer 99, a word where a number belongs, a key given
twice, an unknown key) is dropped with a notice; the prompt is cut to ``PROMPT_CAP`` characters and
loses control characters. Nothing from the address is rendered as HTML.
"""

from __future__ import annotations

import functools
import html
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import streamlit as st

import gpt_core
from gpt_core.timeline import GREEDY, PICKED, SAMPLED
from ui import generation as gen
from ui import state
from ui.text import labels
from viz.attention import WINDOW
from viz.catalog import LANGS

PROMPT_CAP = 2_000  # characters of prompt a link carries (2,000 CJK characters are ~18 KB once URL-encoded)
TOKENS_CAP = 500  # generated tokens a link carries (each one is replayed when the link opens)
QR_CAP = 2_900  # characters a QR code holds at its largest size (version 40, low error correction)
SHOWN_NOTICES = 8
KEPT_ADDRESSES = 4  # addresses written lately that are still recognised as the app's own
TEXT = "common"  # the catalog file of these strings; section "links"
WRITTEN, PENDING, NOTES, PAGE = "links.written", "links.pending", "links.notes", "links.page"
SEED_MAX = 2**31 - 1


def t(name: str, /, **values) -> str:
    """One string of the links section of the shared text catalog."""
    text = labels(TEXT, "links")[name]
    return text.format(**values) if values else text


class Bad(ValueError):
    """A value from the address that cannot be used; args: the catalog string's name and its values."""

    def __init__(self, reason: str, **values):
        super().__init__(reason)
        self.reason, self.values = reason, values


# --- parsing one value ------------------------------------------------------------------------------


def parse_int(raw: str, lo: int, hi: int) -> int:
    if not re.fullmatch(r"[+-]?\d+", raw.strip()):
        raise Bad("bad_int")
    if len(raw.strip()) > 30 or not lo <= int(raw) <= hi:
        raise Bad("bad_range", lo=f"{lo:,}", hi=f"{hi:,}")
    return int(raw)


def parse_float(raw: str, lo: float, hi: float, step: float) -> float:
    try:
        value = float(raw.strip()[:40])
    except ValueError:
        raise Bad("bad_number") from None
    if not math.isfinite(value):
        raise Bad("bad_finite")
    if not lo <= value <= hi:
        raise Bad("bad_range", lo=f"{lo:g}", hi=f"{hi:g}")
    return min(hi, max(lo, round(round(value / step) * step, 6)))  # the slider's own steps


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise Bad("bad_bool")


def parse_choice(raw: str, options: tuple[str, ...]) -> str:
    if raw not in options:
        raise Bad("bad_choice", options=", ".join(options))
    return raw


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all C0/C1 controls but tab and newline


def clean_prompt(raw: str) -> tuple[str, int]:
    """A prompt from an address: line ends made ``\\n``, control characters removed; and how many were."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text, removed = _CONTROLS.subn("", text)
    return text, removed


def parse_tokens(raw: str, vocab: int) -> list[int]:
    """Generated tokens as written by ``show_tokens``: token numbers joined by "-"."""
    if raw == "":
        return []
    parts = raw.split("-")
    if not all(re.fullmatch(r"\d{1,7}", p) for p in parts) or any(int(p) >= vocab for p in parts):
        raise Bad("bad_tokens", vocab=f"{vocab:,}")
    return [int(p) for p in parts]


def show_tokens(tokens: list[int]) -> str:
    return "-".join(map(str, tokens))


# --- the table --------------------------------------------------------------------------------------


class Ctx:
    """What a page's values are checked against: the loaded model and the forward pass over the prompt."""

    @functools.cached_property
    def bundle(self) -> gpt_core.ModelBundle | None:
        try:
            return state.load_bundle(state.source(state.active_model()))
        except state.LOAD_ERRORS:
            return None

    @functools.cached_property
    def run(self):
        text = state.prompt()
        return state.prompt_run(state.source(state.active_model()), text) if self.bundle and text.strip() else None

    @property
    def cfg(self) -> gpt_core.GPTConfig:
        return self.bundle.model.config

    @property
    def n_tokens(self) -> int:
        return len(self.run.ids) if self.run else 0


@dataclass(frozen=True)
class Param:
    """One query parameter: its name in the address, the session-state key it sets, how to read a value
    from the address (raising Bad), its default (left out of links), and how to write a value."""

    name: str
    key: str
    parse: Callable[[str, Ctx], Any]
    default: Callable[[Ctx], Any]
    show: Callable[[Any], str] = str
    needs_run: bool = False  # checked against the forward pass over the prompt (not only the model)


def _const(value):
    return lambda _ctx: value


def _model(raw: str, _ctx: Ctx) -> str:
    if raw not in state.MODELS:
        raise Bad("bad_model", options=", ".join(state.MODELS))
    return raw


def _prompt(raw: str, _ctx: Ctx) -> str:
    return clean_prompt(raw)[0][:PROMPT_CAP]


def _one_based(value) -> str:
    """A 0-based index as the screen numbers it: layers and heads count from 1 there."""
    return str(int(value) + 1)


def _flag(value) -> str:
    return "1" if value else "0"


def _layer(raw: str, ctx: Ctx) -> int:
    return parse_int(raw, 1, ctx.cfg.n_layer) - 1


def _head(raw: str, ctx: Ctx) -> int:
    return parse_int(raw, 1, ctx.cfg.n_head) - 1


def _attention_start(ctx: Ctx) -> int:
    return int(st.session_state.get("attention.start", 0)) if ctx.n_tokens > WINDOW else 0


def _default_query(ctx: Ctx) -> int:
    """As the Attention page starts it: the last position of the window shown."""
    return _attention_start(ctx) + min(ctx.n_tokens, WINDOW) - 1


def _default_key(ctx: Ctx) -> int:
    """As the Attention page starts it: the key the query attends to most (within the window)."""
    s = st.session_state
    s0, query = _attention_start(ctx), int(s.get("attention.query", _default_query(ctx)))
    row = ctx.run.cache.pattern(int(s.get("attention.layer", 0)))[int(s.get("attention.head", 0)), query]
    return s0 + int(row[s0 : query + 1].argmax())


GLOBAL = [  # every page; "lang" first: the notices are written in the link's language
    Param("lang", "lang", lambda raw, _c: parse_choice(raw, LANGS), _const(None)),
    Param("prompt", "prompt", _prompt, _const(state.DEFAULT_PROMPT), lambda v: _prompt(v, None)),
    Param("model", "model", _model, _const("default")),
    Param("present", "present", lambda raw, _c: parse_bool(raw), _const(False), _flag),
]
PAGES = {  # page path -> its parameters, in the order they are applied
    "attention": [
        Param("layer", "attention.layer", _layer, _const(0), _one_based),
        Param("head", "attention.head", _head, _const(0), _one_based),
        Param("start", "attention.start", lambda raw, c: parse_int(raw, 0, max(0, c.n_tokens - WINDOW)),
              _const(0), needs_run=True),
        Param("query", "attention.query", lambda raw, c: parse_int(raw, 0, c.n_tokens - 1), _default_query,
              needs_run=True),
        Param("key", "attention.key", lambda raw, c: parse_int(raw, 0, c.n_tokens - 1), _default_key,
              needs_run=True),
        Param("hide", "attention.hide_first", lambda raw, _c: parse_bool(raw), _const(False),
              _flag),
    ],
    "overview": [
        Param("layer", "overview.layer", _layer, _const(0), _one_based),
        Param("head", "overview.head", _head, _const(0), _one_based),
    ],
    "generation": [  # the ranges of the page's widgets
        Param("temperature", gen.key("temperature"), lambda raw, _c: parse_float(raw, 0.0, 3.0, 0.05),
              _const(gen.DEFAULTS["temperature"]), lambda v: f"{float(v):g}"),
        Param("top_k", gen.key("top_k"), lambda raw, c: parse_int(raw, 0, min(200, c.cfg.vocab_size)),
              _const(gen.DEFAULTS["top_k"])),
        Param("top_p", gen.key("top_p"), lambda raw, _c: parse_float(raw, 0.01, 1.0, 0.01),
              _const(gen.DEFAULTS["top_p"]), lambda v: f"{float(v):g}"),
        Param("seed", gen.key("seed"), lambda raw, _c: parse_int(raw, 0, SEED_MAX), _const(gen.DEFAULTS["seed"])),
        Param("max_new", gen.key("max_new"), lambda raw, _c: parse_int(raw, 1, 2000),
              _const(gen.DEFAULTS["max_new"])),
        Param("slide", gen.key("slide"), lambda raw, _c: parse_bool(raw), _const(False),
              _flag),
    ],
}
GENERATED = ("gen", "step")  # Generation's tokens and step: replayed on the model, not set as one value
KNOWN = {p.name for p in GLOBAL} | {p.name for ps in PAGES.values() for p in ps} | set(GENERATED)


# --- reading the address ----------------------------------------------------------------------------


def _address() -> dict[str, tuple[str, ...]]:
    return {k: tuple(st.query_params.get_all(k)) for k in st.query_params}


def _note(notes: list, name: str, raw: str | None, reason: str, **values) -> None:
    notes.append((name, raw, reason, values))


def _apply(params: list[Param], url: dict[str, tuple[str, ...]], ctx: Ctx, notes: list) -> list[str]:
    """Set the session-state keys of ``params`` found in ``url``; note each value dropped. Returns the keys set."""
    applied = []
    for p in params:
        values = url.get(p.name)
        if not values:
            continue
        if len(values) > 1:
            _note(notes, p.name, None, "bad_repeated")
            continue
        if p.needs_run and ctx.run is None:
            continue  # no prompt: the page says so, and has no positions to pick
        try:
            st.session_state[p.key] = p.parse(values[0], ctx)
            applied.append(p.key)
        except Bad as e:
            _note(notes, p.name, values[0], e.reason, **e.values)
    return applied


def read() -> None:
    """First thing in a run: when the address is new, apply its prompt, model, language and presenter mode
    (the page's own settings wait for ``read_page``, after the sidebar has loaded the model)."""
    url = _address()
    if url in st.session_state.get(WRITTEN, ()):
        return  # the address is ours: the widgets are in control
    st.session_state[WRITTEN] = [url]  # this address is handled; write() replaces it with the view
    if not url:
        return
    notes = []
    raw = url.get("prompt", ())
    if len(raw) == 1:
        text, removed = clean_prompt(raw[0])
        if removed:
            _note(notes, "prompt", None, "prompt_controls", n=removed)
        if len(text) > PROMPT_CAP:
            _note(notes, "prompt", None, "prompt_long", chars=f"{len(text):,}", cap=f"{PROMPT_CAP:,}")
    applied = _apply(GLOBAL, url, Ctx(), notes)
    if "model" in applied:
        state.on_model_change()  # weights not on this machine: the sidebar says so and offers them
    st.session_state[PENDING] = url
    st.session_state[NOTES] = notes


def read_page(page: str) -> None:
    """After the sidebar: apply the pending address's settings of ``page`` (its path) and show what was dropped."""
    st.session_state[PAGE] = page
    url = st.session_state.pop(PENDING, None)
    notes = st.session_state.pop(NOTES, [])
    if url is not None:
        ctx = Ctx()
        if ctx.bundle is not None:
            applied = _apply(PAGES.get(page, []), url, ctx, notes)
            if page == "attention":
                _fit_window(applied, ctx)
            if page == "generation":
                _replay(url, ctx, notes)
        for name, values in url.items():
            if name not in KNOWN:
                _note(notes, name, values[0] if values else "", "bad_unknown")
    if notes:
        # until closed: a slow first load of a page can outlast a timed toast
        st.toast(notice(notes), icon=":material/link_off:", duration="infinite")


def _fit_window(applied: list[str], ctx: Ctx) -> None:
    """A query from the address outside the window shown moves the window (when the link gave none)."""
    s = st.session_state
    if "attention.query" in applied and "attention.start" not in applied and ctx.n_tokens > WINDOW:
        query, s0 = s["attention.query"], _attention_start(ctx)
        if not s0 <= query < s0 + WINDOW:
            s["attention.start"] = min(max(0, query - WINDOW + 1), ctx.n_tokens - WINDOW)


def _replay(url: dict[str, tuple[str, ...]], ctx: Ctx, notes: list) -> None:
    """Generation: choose the link's tokens one by one on the model, then go to the link's step."""
    raw_tokens, raw_step = url.get("gen", ()), url.get("step", ())
    for name, raw in (("gen", raw_tokens), ("step", raw_step)):
        if len(raw) > 1:
            _note(notes, name, None, "bad_repeated")
    found = gen.timeline(ctx.bundle)
    if found is None or not (len(raw_tokens) == 1 or len(raw_step) == 1):
        return
    tl, model = found[0], ctx.bundle.model
    if len(raw_tokens) == 1:
        try:
            tokens = parse_tokens(raw_tokens[0], ctx.cfg.vocab_size)
        except Bad as e:
            _note(notes, "gen", raw_tokens[0], e.reason, **e.values)
            return
        if len(tokens) > TOKENS_CAP:
            _note(notes, "gen", None, "gen_long", n=f"{len(tokens):,}", cap=f"{TOKENS_CAP:,}")
            tokens = tokens[:TOKENS_CAP]
        gen.init_defaults()
        settings = gen.settings()
        how = GREEDY if settings.temperature == 0 else SAMPLED
        tl.go(0)
        with st.spinner(t("replaying", n=len(tokens))):
            for token in tokens:  # the same draw as the Generation page's, so sampled steps read "sampled"
                _, d = tl.preview(model, settings)
                if d.token == token:
                    tl.choose(model, token, settings, how, None if how == GREEDY else d.u)
                else:
                    tl.choose(model, token, settings, PICKED)
    if len(raw_step) == 1:
        try:
            tl.go(parse_int(raw_step[0], 0, len(tl.steps)))
        except Bad as e:
            _note(notes, "step", raw_step[0], e.reason, **e.values)


def _md(text: str, cap: int = 24) -> str:
    """Text from the address as Markdown that reads as typed (every sign escaped), cut to ``cap`` characters."""
    text = "".join(c if unicodedata.category(c)[0] != "C" else "\ufffd" for c in text)
    text = text if len(text) <= cap else text[: cap - 1] + "…"
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&\"'=/@%^;,?])", r"\\\1", text)


def notice(notes: list) -> str:
    """The notice of what an address asked for and did not get, as escaped Markdown."""
    lines = []
    for name, raw, reason, values in notes[:SHOWN_NOTICES]:
        what = f"**{_md(name)}**" + (f" = {_md(raw)}" if raw is not None else "")
        lines.append(f"- {what}: {t(reason, **values)}")
    if len(notes) > SHOWN_NOTICES:
        lines.append(f"- {t('more', n=len(notes) - SHOWN_NOTICES)}")
    return t("notice") + "\n" + "\n".join(lines)


# --- writing the address ----------------------------------------------------------------------------


def params(page: str | None = None) -> dict[str, str]:
    """The current view as query parameters: every value that differs from its default."""
    page = st.session_state.get(PAGE, "") if page is None else page
    s, ctx, out = st.session_state, Ctx(), {}
    for p in GLOBAL + PAGES.get(page, []):
        if p.key not in s or (p.needs_run and ctx.run is None):
            continue
        value = s[p.key]
        if value != p.default(ctx):
            out[p.name] = p.show(value)
    if page == "generation":
        tl = _timeline()
        if tl is not None and tl.steps:
            tokens = tl.branch.tokens[:TOKENS_CAP]
            out["gen"] = show_tokens(tokens)
            if tl.cursor != len(tokens):
                out["step"] = str(min(tl.cursor, len(tokens)))
    return out


def _timeline():
    """This session's generation timeline, when it is for the current prompt and model."""
    stored = st.session_state.get(gen.key("timeline"))
    if stored is None or stored[0] != (state.source(state.active_model()), state.prompt()):
        return None
    return stored[1]


def write(page: str | None = None) -> None:
    """Mirror the view into the address (only when it changed, so the browser's history is not flooded)."""
    wanted = params(page)
    as_read = {k: (v,) for k, v in wanted.items()}
    # the last few addresses written, not only the last: st.rerun() sends the next run the address as it
    # was when it was called, which a write after it (a fragment's, or app.py's) has since replaced
    ours = [a for a in st.session_state.get(WRITTEN, []) if a != as_read]
    st.session_state[WRITTEN] = [*ours, as_read][-KEPT_ADDRESSES:]
    if _address() != as_read:
        st.query_params.from_dict(wanted)


# --- sharing -----------------------------------------------------------------------------------------


def base_url(page: str) -> str | None:
    """The app's address of ``page`` as the browser sees it (None when the app cannot tell)."""
    url = st.context.url
    if url:
        return url
    host = st.context.headers.get("Host") if st.context.headers else None
    if not host or not re.fullmatch(r"[\w.\-:\[\]]+", host):
        return None
    scheme = "https" if st.context.headers.get("X-Forwarded-Proto") == "https" else "http"
    return f"{scheme}://{host}/{page}"


def link(page: str | None = None) -> str:
    """The link to the current view: its address, or only its path and query when the address is unknown."""
    page = st.session_state.get(PAGE, "") if page is None else page
    query = urlencode(params(page))
    return (base_url(page) or f"/{page}") + (f"?{query}" if query else "")


def qr_image(text: str) -> str | None:
    """A QR code of ``text`` as an SVG data URI (None when the text is too long for one)."""
    import segno

    try:
        qr = segno.make_qr(text, error="l", boost_error=True)
    except segno.DataOverflowError:
        return None
    return qr.svg_data_uri(scale=10, border=4, dark="#000", light="#fff")


def share_button(page: str) -> None:
    """The sidebar's Share button: a dialog with the link to this view and its QR code."""
    with st.sidebar:
        if st.button(t("share"), icon=":material/share:", help=t("share_help"), key="links.share", width="stretch"):
            st.dialog(t("share"), width="large")(_share)(page)


def _share(page: str) -> None:
    url = link(page)
    st.markdown(t("share_intro"))
    st.code(url, language=None, wrap_lines=True)
    if base_url(page) is None:
        st.caption(t("no_base"))
    prompt = state.prompt()
    if len(prompt) > PROMPT_CAP:
        st.caption(t("prompt_cut", cap=f"{PROMPT_CAP:,}", chars=f"{len(prompt):,}"))
    tl = _timeline() if page == "generation" else None
    if tl is not None and len(tl.steps) > TOKENS_CAP:
        st.caption(t("gen_cut", cap=f"{TOKENS_CAP:,}", n=f"{len(tl.steps):,}"))
    if state.active_model() != "default":
        name = state.active_model()
        st.caption(t("other_model", model=labels(TEXT, "models").get(name, state.MODELS.get(name, name))))
    image = qr_image(url) if len(url) <= QR_CAP else None
    if image is None:
        st.warning(t("qr_too_long", chars=f"{len(url):,}"))
        return
    # an <img> (an inline <svg> is removed by st.html's sanitiser); as large as the screen's height allows
    st.html(f'<img class="links-qr" src="{html.escape(image)}" alt="{html.escape(t("qr_alt"))}" '
            'style="display:block;width:min(68vh,100%);margin:0 auto;image-rendering:pixelated">')
    st.caption(t("qr_caption", chars=f"{len(url):,}"))
