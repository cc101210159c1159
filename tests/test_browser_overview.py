"""Real browser: open the app, type a prompt, see the Overview's tokens, heatmap and predictions."""

from conftest import READY, type_prompt


def test_typed_prompt_reaches_the_overview_heatmap(app_url, page):
    page.goto(app_url + "/overview")
    page.wait_for_selector(READY, timeout=60_000)
    type_prompt(page, "KING.\nWhat say you, <b>lords</b>?")

    chips = page.locator("span.tok")
    assert chips.count() > 5
    text = "".join(chips.all_inner_texts())
    assert "KING" in text and "<b>" in text  # the HTML typed is shown as text
    assert page.locator("b", has_text="lords").count() == 0  # and never becomes markup

    heatmap = page.locator('[data-testid="stPlotlyChart"]').first
    heatmap.wait_for(timeout=30_000)
    assert heatmap.locator(".heatmaplayer, .hm").count() > 0 or heatmap.locator("image").count() > 0
    assert page.get_by_text("Layer 1, head 1").count() > 0
    assert page.locator('[data-testid="stException"]').count() == 0


def test_home_links_to_the_pages(app_url, page):
    page.goto(app_url)
    page.wait_for_selector(READY, timeout=60_000)
    assert page.get_by_role("heading", name="GPT, step by step").count() > 0
    page.get_by_role("link", name="Take text apart on the Tokens page").click()
    page.wait_for_url("**/tokens", timeout=30_000)
    page.wait_for_selector(READY, timeout=30_000)
    assert page.get_by_role("heading", name="Tokens").count() > 0
