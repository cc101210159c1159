"""Real browser, projector-sized: switch presenter mode on, walk the story with Next (button and Page Down),
and let the class guess a token before revealing it."""

from __future__ import annotations

import pytest
from conftest import READY, settle
from playwright.sync_api import expect

STORY = ["Tokens", "Embeddings", "Attention", "Overview", "Generation"]  # the pages' titles
STEPS = ["Tokens", "Embeddings", "Attention", "Next token", "Generation"]  # the steps' names in the bar


@pytest.fixture
def projector(browser):
    """A page the size of a projector's screen (1920 × 1080)."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    yield context.new_page()
    context.close()


def at_step(page, k: int) -> None:
    """Wait until the presenter bar says step ``k`` and the page has finished drawing."""
    expect(page.locator(".pr-where")).to_have_text(f"Step {k} of 5", timeout=60_000)
    settle(page)
    page.wait_for_selector(READY, timeout=60_000)


def test_presenter_walks_the_story_and_reveals_a_prediction(app_url, projector):
    page = projector
    page.goto(app_url)
    page.wait_for_selector(READY, timeout=60_000)
    page.get_by_text("Presenter mode", exact=True).click()  # the sidebar's switch
    settle(page)
    expect(page.locator('[data-testid="stSidebar"]')).to_have_attribute("data-collapsed", "true")  # folded away
    page.locator(".st-key-presenter-start button").click()

    for k, title in enumerate(STORY, 1):
        at_step(page, k)
        assert page.get_by_role("heading", name=title, exact=True).count() == 1
        assert page.locator(".pr-step.now").inner_text() == f"{k}. {STEPS[k - 1]}"
        assert page.locator('[data-testid="stException"]').count() == 0
        if k == 2:
            page.keyboard.press("PageDown")  # a presenter's remote sends Page Down
        elif k < 5:
            page.locator(".st-key-presenter-next button").click()
    assert page.locator(".st-key-presenter-next button").is_disabled()
    font = page.evaluate("getComputedStyle(document.querySelector('.gen-text')).fontSize")
    assert float(font.removesuffix("px")) >= 28  # the text the model writes, readable from the back row

    page.locator("label").filter(has_text="Predict first").click()
    settle(page)
    guess = page.locator(".st-key-presenter_guess")
    guess.wait_for(timeout=30_000)
    next_token = page.locator('[data-testid="stMetric"]').filter(has_text="Next token")
    assert next_token.locator('[data-testid="stMetricValue"]').inner_text() == "?"
    page.locator(".st-key-presenter-reveal button").click()
    settle(page)
    expect(guess).to_have_count(0, timeout=30_000)
    assert next_token.locator('[data-testid="stMetricValue"]').inner_text() != "?"
    assert page.get_by_text("will pick").count() >= 1

    page.get_by_role("button", name="Next token").click()  # a new token: the next choice is hidden again
    settle(page)
    expect(guess).to_have_count(1, timeout=30_000)
    assert page.locator(".gen-text span.gen").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
