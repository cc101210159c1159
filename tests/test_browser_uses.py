"""Real browser: the Uses page runs a pattern live and shows where the answer looked; Evolution renders."""


from conftest import settle
from playwright.sync_api import expect


def _idle(page) -> None:
    settle(page)


def test_translation_runs_live_and_the_attention_is_one_click_away(cache_env, app_url, page):
    page.goto(app_url + "/uses")
    _idle(page)
    page.get_by_text("Translation", exact=True).click()
    _idle(page)
    assert "French:" in page.get_by_role("textbox", name="Prompt (edit it freely)").input_value()
    page.get_by_role("button", name="Generate").click()
    _idle(page)
    answer = page.locator(".uses-answer .ans")
    assert answer.count() >= 1
    assert page.get_by_text("Tokens written:").count() == 1
    page.get_by_text("Show where the answer looked").click()
    _idle(page)
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(1, timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_evolution_page_shows_the_models_and_the_calculator(cache_env, app_url, page):
    page.goto(app_url + "/evolution")
    _idle(page)
    assert page.get_by_role("heading", name="Side by side").count() == 1
    assert page.get_by_text("116,534,784", exact=False).count() >= 1
    assert page.get_by_text("FLOPs per generated token").count() >= 1
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(3, timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
