"""Real browser: open the Attention page, click a head in the grid and a cell in the large pattern, and
see that weight worked out with the numbers of the model the app runs."""

from __future__ import annotations

import torch
from conftest import TINY, settle

from gpt_core import GPT, get_tokenizer
from ui.state import DEFAULT_PROMPT


def idle(page) -> None:
    settle(page)


def click_at(page, chart: str, fx: float, fy: float) -> None:
    """Hover, then click, at a fraction (fx, fy) of a plotly chart's plotting area."""
    area = page.locator(f".st-key-{chart} .nsewdrag").first
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    idle(page)


def expected_pattern(layer: int, head: int) -> torch.Tensor:
    """The pattern of the app's model on the default prompt: the same seeded tiny model as the app_url fixture."""
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    ids = get_tokenizer("shakespeare_bpe").encode(DEFAULT_PROMPT)
    _, cache = model.run_with_cache(torch.tensor([ids]))
    return cache[f"blocks.{layer}.attn.hook_pattern"][0, head]


def test_click_a_head_then_a_cell_and_see_the_worked_numbers(app_url, page):
    page.goto(app_url + "/attention")
    idle(page)
    page.locator(".st-key-attention-grid .nsewdrag").first.wait_for(timeout=30_000)
    assert page.get_by_role("heading", name="Layer 1, head 1").count() == 1

    click_at(page, "attention-grid", 0.8, 0.8)  # the tile of layer 2, head 2 (bottom right of a 2 × 2 grid)
    page.get_by_role("heading", name="Layer 2, head 2").wait_for(timeout=30_000)

    pattern = expected_pattern(1, 1)
    T = pattern.shape[0]
    query, key = T - 3, 1
    click_at(page, "attention-pattern", (key + 0.5) / T, (query + 0.5) / T)
    page.get_by_role("heading", name=f"One weight, by hand: query {query} → key {key}").wait_for(timeout=30_000)

    tex = " ".join(page.locator(".katex-mathml annotation").all_text_contents())
    assert rf"q_{{{query}}} \cdot k_{{{key}}}" in tex
    assert f"= {float(pattern[query, key]):.4f}" in tex  # the softmax weight, from the model's own pattern
    assert page.locator('[data-testid="stException"]').count() == 0


def test_keyboard_pickers_and_the_head_view(app_url, page):
    page.goto(app_url + "/attention")
    idle(page)
    page.locator(".st-key-attention-view").get_by_text("Lines, all heads of the layer").click()
    idle(page)
    view = page.locator(".st-key-attention-lines .legend")
    view.wait_for(timeout=30_000)
    assert view.get_by_text("head 2").count() == 1  # one colour per head of the layer
    page.locator(".st-key-attention-step").get_by_text("5 · softmax").click()
    idle(page)
    assert page.get_by_text("✓ Recomputed from the cached Q, K and V").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0


def test_on_a_phone_a_wide_formula_scrolls_instead_of_being_cut_off(app_url, page):
    # Streamlit's own style gives .katex-display overflow-x: auto; this keeps the app from losing that
    page.set_viewport_size({"width": 400, "height": 1200})
    page.goto(app_url + "/attention")
    idle(page)
    formula = page.locator(".katex-display", has_text="softmax").first
    formula.wait_for(timeout=30_000)
    column = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    wide, box = formula.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert wide > box  # the formula is wider than the phone's column...
    assert formula.bounding_box()["x"] + box <= column["x"] + column["width"] + 1  # ...its box is not
    formula.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    assert formula.evaluate("e => e.scrollLeft") > 0  # and the reader can scroll to its end
