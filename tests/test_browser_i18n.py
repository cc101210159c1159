"""Real browser: switch the language in the sidebar; every label follows and every choice is kept."""

from conftest import READY, settle
from playwright.sync_api import expect


def language(page, name: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_text(name, exact=True).click()
    settle(page)


def test_switching_language_redraws_the_page_and_keeps_the_choices(app_url, page):
    page.goto(app_url + "/overview")
    page.wait_for_selector(READY, timeout=60_000)
    page.get_by_label("Layer", exact=True).click()
    page.get_by_role("option", name="Layer 2 of 2").click()
    settle(page)
    assert page.get_by_text("Layer 2, head 1").count() > 0

    language(page, "中文")
    assert page.get_by_role("heading", name="总览").count() > 0
    assert page.get_by_role("link", name="注意力").count() > 0  # the navigation too
    assert page.get_by_role("combobox", name="层").input_value() == "第 2 层（共 2 层）"  # the choice, in Chinese
    assert page.get_by_text("第 2 层，头 1").count() > 0
    assert page.locator('[data-testid="stException"]').count() == 0

    language(page, "English")
    assert page.get_by_role("heading", name="Overview").count() > 0
    assert page.get_by_role("combobox", name="Layer").input_value() == "Layer 2 of 2"  # kept across two switches
    assert page.get_by_text("Layer 2, head 1").count() > 0
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_chinese_browser_starts_in_chinese(app_url, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(app_url)
        page.wait_for_selector(READY, timeout=60_000)
        assert page.get_by_role("heading", name="一步步看懂 GPT").count() > 0
        # waits while the sidebar is still being drawn (on a busy machine it can lag the heading)
        expect(page.get_by_role("textbox", name="你的文本")).to_have_count(1, timeout=20_000)
    finally:
        context.close()
