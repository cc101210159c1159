"""Real browser: the Embeddings page draws every section for a typed prompt, and hovering a cell gives its value."""

import re

from conftest import READY, type_prompt


def test_embeddings_page_draws_every_section_and_hover_shows_values(app_url, page):
    page.goto(app_url + "/embeddings")
    page.wait_for_selector(READY, timeout=60_000)
    type_prompt(page, "KING.\nWhat say you, <b>lords</b>?")

    assert page.locator('[data-testid="stException"]').count() == 0
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.nth(7).wait_for(timeout=30_000)
    assert charts.count() == 8
    assert page.locator("b", has_text="lords").count() == 0  # typed HTML never becomes markup
    for heading in ("1. Look up two rows and add them", "4. LayerNorm, worked", "5. The residual stream"):
        assert page.get_by_role("heading", name=heading).count() == 1

    lookup = charts.first
    lookup.scroll_into_view_if_needed()
    box = lookup.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3)
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=10_000)
    assert re.search(r"token embedding: -?\d+\.\d{6}", hover.text_content())
