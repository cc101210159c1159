"""The "Download handout" button: one HTML page with the prompt, one head worked out, its pattern and the
next-token chart, built only when the button is clicked (``gpt_core.handout`` collects the numbers,
``viz.handout`` lays them out)."""

from __future__ import annotations

import datetime

from gpt_core.handout import handout_data
from gpt_core.prompt import PromptRun
from ui import describe, state
from ui.text import labels, lang
from viz.handout import build_html


def file_name(day: datetime.date, layer: int, head: int) -> str:
    return f"gpt_handout_{day.isoformat()}_layer{layer + 1}_head{head + 1}.html"


def button(where, run: PromptRun, layer: int, head: int, query: int, start: int, stop: int, key: str) -> None:
    """A download button for the handout of ``head`` of ``layer`` (counted from 0), worked for ``query``,
    its pattern drawn over positions start..stop."""
    bundle = state.bundle_or_stop()
    prompt, language, today = state.prompt(), lang(), datetime.date.today()
    lab, name = labels("handout"), describe.model_name(bundle.info)

    def html() -> str:
        data = handout_data(run, bundle.tokenizer, prompt, name, layer, head, query, start, stop, today.isoformat())
        return build_html(data, language)

    where.download_button(lab["button"], data=html, file_name=file_name(today, layer, head), mime="text/html",
                          on_click="ignore", key=key, icon=":material/description:",
                          help=lab["button_help"].format(layer=layer + 1, head=head + 1, query=query))
