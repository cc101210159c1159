"""The printable handout: one self-contained HTML page (no scripts, no fonts or images from elsewhere).

Pure: ``gpt_core.handout.HandoutData`` in, an HTML string out. Every token and the prompt go through
``html.escape``; the prose comes from ``assets/text/handout.<lang>.md``. The pattern is an HTML table
coloured on a sequential scale from 0 (light to dark blue, readable in black and white and by
colour-blind readers); the next-token chart is inline SVG.
"""

from __future__ import annotations

import html
import math
import re

import numpy as np

from .catalog import labels, sections
from .tokens import chips_html, visible

PAGE = "handout"
MAX_ROWS = 40  # keys listed one by one in the worked row; longer rows list the largest weights and sum the rest
SHOWN_ROWS = 20
NUMBERS_IN_CELLS = 20  # a pattern this size or smaller writes its weights in the cells
PROMPT_CHARS = 3000  # characters of the typed text printed in full
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
LEVELS = 32  # colour steps of the pattern, each a CSS class
CSS = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:#1a1a1a;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,
 "Noto Sans","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
 -webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1100px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:1.7rem;margin:0 0 4px}
h2{font-size:1.2rem;margin:28px 0 8px;border-bottom:2px solid #08519c;padding-bottom:2px}
.meta{color:#444;margin:0 0 8px}
code,.mono,pre,td.num,th.tokh{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Noto Sans Mono CJK SC",monospace}
pre.prompt{white-space:pre-wrap;word-break:break-word;background:#f4f6f8;border:1px solid #ccd;border-radius:6px;
 padding:8px 10px;font-size:0.9rem}
.formula{font-size:1.25rem;text-align:center;margin:12px 0;padding:10px;border:1px solid #ccd;border-radius:6px;
 background:#f8fafc}
table{border-collapse:collapse;margin:8px 0}
table.work td,table.work th{border:1px solid #ccd;padding:3px 8px;text-align:right}
table.work th{background:#eef2f7}
table.work td.tok{text-align:left;white-space:pre}
table.work tr.best td{font-weight:700;background:#fff4e0}
table.work tr.sum td{border-top:2px solid #555;font-weight:700}
table.work tr.muted td{color:#555;font-style:italic}
.vec{display:flex;flex-wrap:wrap;gap:4px 10px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:0.85rem}
.vec span{min-width:5.5em;text-align:right}
.vec span i{color:#666;font-style:normal;font-size:0.75rem;margin-right:3px}
.dot{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:0.9rem;line-height:1.9}
table.map{font-size:9px;table-layout:fixed}
table.map td{width:var(--cell);height:var(--cell);min-width:var(--cell);padding:0;text-align:center;
 border:1px solid #fff}
table.map th{font-weight:400;color:#333;padding:0 4px;white-space:pre;font-size:10px}
table.map th.rowh{text-align:right;max-width:11em;overflow:hidden;text-overflow:ellipsis}
table.map td.m{background:#fff}
table.map tr.q th{font-weight:700;color:#000}
table.map tr.q td{border-top:2px solid #D55E00;border-bottom:2px solid #D55E00}
.legend{display:flex;align-items:center;gap:6px;font-size:0.85rem;margin:4px 0}
.legend .bar{width:220px;height:12px;border:1px solid #999;background:linear-gradient(to right,%GRADIENT%)}
.note{color:#444;font-size:0.9rem}
footer{margin-top:32px;border-top:1px solid #ccd;padding-top:8px;color:#444;font-size:0.85rem}
section{break-inside:auto}
h2,table.work tr,.formula{break-inside:avoid}
@media print{main{padding:0}body{font-size:12px}h2{break-after:avoid}}
""".strip()


def _escape(value) -> str:
    return html.escape(str(value), quote=True)


def _inline(text: str) -> str:
    """Escaped catalog text with **bold**, *italic* and `code` made into tags."""
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", text)


def prose(template: str, **values) -> str:
    """Catalog paragraphs as <p> elements, placeholders filled in; string values are escaped, numbers kept
    as numbers so a template may format them ({x:.3f})."""
    safe = {k: _escape(v) if isinstance(v, str) else v for k, v in values.items()}
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", template) if p.strip()]
    return "".join(f"<p>{_inline(' '.join(p.split()) if not _cjk(p) else p.replace(chr(10), ''))}</p>"
                   for p in paragraphs).format(**safe)


def _cjk(text: str) -> bool:
    """Chinese lines join without a space."""
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def _num(x: float, digits: int = 4) -> str:
    """A number as printed: fixed digits and a real minus sign."""
    if math.isinf(x):
        return "−∞" if x < 0 else "∞"
    return f"{x:.{digits}f}".replace("-", "−")


def _factor(x: float) -> str:
    """A number inside a product or after a minus sign: in parentheses when negative."""
    s = _num(x)
    return f"({s})" if x < 0 else s


def _tok(token: str) -> str:
    return _escape(visible(token))


def colour(t: float) -> str:
    """The sequential scale at t in [0, 1]: light (0) to dark blue (1), interpolated between the Blues stops."""
    t = min(1.0, max(0.0, float(t)))
    x = t * (len(BLUES) - 1)
    i = min(int(x), len(BLUES) - 2)
    f = x - i
    a, b = (tuple(int(c[k : k + 2], 16) for k in (1, 3, 5)) for c in (BLUES[i], BLUES[i + 1]))
    return "#" + "".join(f"{round(p + (q - p) * f):02x}" for p, q in zip(a, b, strict=True))


def _level_css() -> str:
    """One class per colour step; dark steps write in white."""
    rules = []
    for n in range(LEVELS):
        t = n / (LEVELS - 1)
        ink = "#fff" if t > 0.55 else "#1a1a1a"
        rules.append(f"table.map td.b{n}{{background:{colour(t)};color:{ink}}}")
    return "\n".join(rules)


# --- the sections -----------------------------------------------------------------------------------------


def _text_section(d, lab: dict, text: dict, lang: str) -> str:
    out = [f"<h2>{_escape(lab['h_text'])}</h2>"]
    shown = d.prompt[:PROMPT_CHARS]
    cut = f' <span class="note">{_escape(lab["prompt_cut"].format(n=PROMPT_CHARS, total=len(d.prompt)))}</span>'
    out.append(f'<pre class="prompt">{_escape(shown)}</pre>' + (cut if len(d.prompt) > PROMPT_CHARS else ""))
    out.append(prose(text["text"], n=len(d.tokens)))
    if d.dropped:
        out.append(prose(text["dropped"], context=len(d.tokens), dropped=d.dropped, n=len(d.tokens)))
    out.append(chips_html(d.tokens, d.ids, d.raw, lang=lang))
    return "".join(out)


def _rows_to_list(d) -> tuple[list[int], list[int]]:
    """Keys listed one by one, and keys summed into one line (the smallest weights of a long row)."""
    keys = list(range(d.query + 1))
    if len(keys) <= MAX_ROWS:
        return keys, []
    by_weight = sorted(keys, key=lambda j: -d.cells[j].weight)
    shown = sorted(by_weight[:SHOWN_ROWS])
    return shown, sorted(by_weight[SHOWN_ROWS:])


def _formula_section(d, lab: dict, text: dict) -> str:
    q = d.query
    best = max(range(q + 1), key=lambda j: d.cells[j].weight)
    first = d.cells[0]
    root = math.sqrt(d.d_k)
    query_token = f"“{visible(d.labels[q])}”"
    out = [f"<h2>{_escape(lab['h_formula'])}</h2>", prose(text["formula"], d_k=d.d_k),
           '<div class="formula">Attention(Q, K, V) = softmax( QKᵀ / √d<sub>k</sub> + M ) V</div>',
           prose(text["mask"]),
           prose(text["row"], query_token=query_token, query=q, layer=d.layer + 1, head=d.head + 1,
                 root=_num(root, 3), row_max=_num(first.row_max))]
    head = "".join(f"<th>{_escape(lab[c])}</th>" for c in
                   ("col_key", "col_token", "col_dot", "col_scaled", "col_mask", "col_exp", "col_weight"))
    rows = [f"<table class='work'><thead><tr>{head}</tr></thead><tbody>"]
    listed, summed = _rows_to_list(d)
    for j in listed:
        c = d.cells[j]
        cls = ' class="best"' if j == best else ""
        rows.append(f'<tr{cls} data-key="{j}" data-weight="{c.weight:.8f}"><td>{j}</td>'
                    f'<td class="tok">{_tok(d.labels[j])}</td><td class="num">{_num(c.dot.total)}</td>'
                    f'<td class="num">{_num(c.scaled)}</td><td class="num">+ 0</td>'
                    f'<td class="num">{_num(c.exp)}</td><td class="num">{_num(c.weight)}</td></tr>')
    if summed:
        e = sum(d.cells[j].exp for j in summed)
        w = sum(d.cells[j].weight for j in summed)
        rows.append(f'<tr class="muted"><td></td><td class="tok">{_escape(lab["rest"].format(n=len(summed)))}</td>'
                    f'<td></td><td></td><td class="num">+ 0</td><td class="num">{_num(e)}</td>'
                    f'<td class="num">{_num(w)}</td></tr>')
    if q + 1 < len(d.tokens):
        future = _escape(lab["future"].format(first=q + 1, last=len(d.tokens) - 1))
        rows.append(f'<tr class="muted"><td></td><td class="tok">{future}</td><td></td><td></td>'
                    f'<td class="num">{_escape(lab["future_mask"])}</td><td class="num">0</td>'
                    f'<td class="num">0</td></tr>')
    total_w = sum(c.weight for c in d.cells)
    rows.append(f'<tr class="sum"><td></td><td class="tok">{_escape(lab["total"])}</td><td></td><td></td><td></td>'
                f'<td class="num">{_num(first.denominator)}</td><td class="num">{_num(total_w)}</td></tr>')
    rows.append("</tbody></table>")
    out.append("".join(rows))

    c = d.cells[best]
    key_token = f"“{visible(d.labels[best])}”"
    out.append(prose(text["dot"], key_token=key_token, key=best))
    terms = [f"{_factor(float(c.dot.q[i]))} × {_factor(float(c.dot.k[i]))}" for i in c.dot.shown]
    if c.dot.n_hidden:
        terms.append(f"[{_num(c.dot.rest)}]")
    out.append(f'<div class="dot">q<sub>{q}</sub> · k<sub>{best}</sub> = {" + ".join(terms)} = '
               f"<strong>{_num(c.dot.total)}</strong></div>")
    if c.dot.n_hidden:
        note = text["dot_rest"].format(n=c.dot.n_hidden, d_k=d.d_k, rest=_num(c.dot.rest), shown=len(c.dot.shown))
        out.append(f'<p class="note">{_escape(note)}</p>')
    out.append(prose(text["cell"]))
    out.append(f'<div class="dot">s = {_num(c.dot.total)} ÷ √{d.d_k} = {_num(c.dot.total)} ÷ {_num(root, 3)} = '
               f"{_num(c.scaled)}; &nbsp; s + M = {_num(c.scaled)} + 0<br>"
               f"w = e<sup>{_num(c.scaled)} − {_factor(c.row_max)}</sup> ÷ {_num(c.denominator)} = {_num(c.exp)} ÷ "
               f"{_num(c.denominator)} = <strong>{_num(c.weight)}</strong></div>")
    out.append(prose(text["output"], query_token=query_token, d_k=d.d_k))
    out.append('<div class="vec">' + "".join(f"<span><i>{i}</i>{_num(float(x))}</span>" for i, x in enumerate(d.z))
               + "</div>")
    out.append(f'<p class="note">{_escape(text["check"].format(diff=f"{d.check:.1e}"))}</p>')
    return "".join(out)


def _pattern_section(d, lab: dict, text: dict) -> str:
    w = np.asarray(d.pattern, dtype=float)[d.start : d.stop, d.start : d.stop]
    S = w.shape[0]
    allowed = np.tril(np.ones((S, S), dtype=bool))
    high = float(w[allowed].max()) if S else 1.0
    high = high or 1.0
    out = [f"<h2>{_escape(lab['h_pattern'])}</h2>", prose(text["pattern"])]
    if S < len(d.tokens):
        out.append(prose(text["window"], n=len(d.tokens), first=d.start, last=d.stop - 1))
    out.append(f'<div class="legend"><span>{_escape(lab["legend_low"])}</span><span class="bar"></span>'
               f'<span>{_escape(lab["legend_high"].format(high=_num(high, 3)))}</span></div>')
    numbers = S <= NUMBERS_IN_CELLS
    cell = "26px" if numbers else ("14px" if S <= 40 else "10px")
    head = "".join(f'<th scope="col" title="{_tok(d.labels[d.start + j])}">{d.start + j}</th>' for j in range(S))
    rows = [f'<table class="map" style="--cell:{cell}" aria-label="{_escape(lab["h_pattern"])}">'
            f"<thead><tr><th></th>{head}</tr></thead><tbody>"]
    for i in range(S):
        qi = d.start + i
        cells = []
        for j in range(S):
            kj = d.start + j
            if j > i:
                cells.append(f'<td class="m" title="{_escape(lab["masked_cell"])}"></td>')
                continue
            v = float(w[i, j])
            level = round(v / high * (LEVELS - 1))
            tip = f"#{qi} {visible(d.labels[qi])} → #{kj} {visible(d.labels[kj])}: {v:.4f}"
            shown = f"{v:.2f}".lstrip("0") if numbers else ""
            cells.append(f'<td class="b{level}" data-q="{qi}" data-k="{kj}" data-w="{v:.6f}" '
                         f'title="{_escape(tip)}">{shown}</td>')
        cls = ' class="q"' if qi == d.query else ""
        rows.append(f'<tr{cls}><th scope="row" class="rowh">#{qi} {_tok(d.labels[qi])}</th>{"".join(cells)}</tr>')
    rows.append("</tbody></table>")
    out.append("".join(rows))
    return "".join(out)


def bars_svg(tokens: list[str], probs: list[float], label: str) -> str:
    """Horizontal bars of probabilities as inline SVG, likeliest on top, each labelled with its percentage."""
    row, left, width = 28, 230, 420
    top = max(probs) if probs else 1.0
    parts = []
    for n, (tok, p) in enumerate(zip(tokens, probs, strict=True)):
        y = n * row
        length = max(1.0, p / top * width) if top else 1.0
        pct = f"{p:.1%}" if p >= 0.01 else f"{p:.2%}"
        parts.append(
            f'<text x="{left - 8}" y="{y + 19}" text-anchor="end" class="t">{n + 1}. {_tok(tok)}</text>'
            f'<rect x="{left}" y="{y + 5}" width="{length:.1f}" height="{row - 10}" fill="#08519c">'
            f"<title>{_tok(tok)}: {pct}</title></rect>"
            f'<text x="{left + length + 6:.1f}" y="{y + 19}" class="p">{pct}</text>')
    h = row * len(tokens) + 4
    return (f'<svg width="{left + width + 70}" height="{h}" role="img" '
            f'aria-label="{_escape(label)}" viewBox="0 0 {left + width + 70} {h}">'
            "<style>.t{font:13px ui-monospace,Menlo,Consolas,monospace;fill:#1a1a1a;white-space:pre}"
            ".p{font:13px system-ui,sans-serif;fill:#1a1a1a}</style>" + "".join(parts) + "</svg>")


def _next_section(d, lab: dict, text: dict) -> str:
    share = sum(d.next_probs)
    summary = ", ".join(f"{visible(t)} {p:.1%}" for t, p in zip(d.next_tokens, d.next_probs, strict=True))
    return "".join([f"<h2>{_escape(lab['h_next'])}</h2>",
                    prose(text["next"], vocab=f"{d.vocab_size:,}", share=f"{share:.1%}"),
                    bars_svg(d.next_tokens, d.next_probs, f"{lab['next_label']}: {summary}")])


def build_html(d, lang: str = "en") -> str:
    """The handout for ``d`` (a ``gpt_core.handout.HandoutData``) in ``lang``: a complete HTML document."""
    text = sections(PAGE, lang if lang in ("en", "zh") else "en")
    lab = labels(PAGE, "labels", lang)
    gradient = ",".join(colour(i / 8) for i in range(9))
    css = CSS.replace("%GRADIENT%", gradient) + "\n" + _level_css()
    meta = lab["meta"].format(model=d.model, date=d.date, layer=d.layer + 1, n_layer=d.n_layer, head=d.head + 1,
                              n_head=d.n_head)
    body = [f"<h1>{_escape(lab['title'])}</h1>", f'<p class="meta">{_escape(meta)}</p>',
            f"<section>{_text_section(d, lab, text, lang)}</section>",
            f"<section>{_formula_section(d, lab, text)}</section>",
            f"<section>{_pattern_section(d, lab, text)}</section>",
            f"<section>{_next_section(d, lab, text)}</section>",
            f"<footer>{prose(text['footer'])}</footer>"]
    html_lang = "zh-Hans" if lang == "zh" else "en"
    return (f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_escape(lab['title'])} · {_escape(d.date)}</title><style>{css}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
