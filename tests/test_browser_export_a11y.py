"""Real browser: the Overview by keyboard alone, charts named for screen readers, the toolbar's image format,
and the handout downloaded and opened."""

from conftest import READY, settle

from ui.charts import SLIDE

TAB_LIMIT = 120  # presses of Tab before giving up on reaching a control


def focus_label(page) -> str:
    """A short description of the focused element: its accessible text, role and test id."""
    return page.evaluate(
        """() => { const e = document.activeElement; if (!e) return "";
        const box = e.closest('[data-testid]');
        return [e.getAttribute('aria-label') || '', (e.innerText || e.value || '').slice(0, 60),
                e.getAttribute('role') || e.tagName, box ? box.getAttribute('data-testid') : ''].join(' | '); }""")


def tab_to(page, wanted: str, seen: list[str]) -> bool:
    """Press Tab until the focused element's description contains ``wanted``."""
    for _ in range(TAB_LIMIT):
        page.keyboard.press("Tab")
        label = focus_label(page)
        seen.append(label)
        if wanted in label:
            return True
    return False


def test_overview_works_by_keyboard_and_names_its_charts(app_url, page):
    page.goto(app_url + "/overview")
    page.wait_for_selector(READY, timeout=60_000)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=30_000)

    figures = page.locator('[data-testid="stPlotlyChart"][role="figure"]')
    assert figures.count() == 2
    assert figures.first.get_attribute("aria-label").startswith("Layer 1, head 1: token")
    assert figures.nth(1).get_attribute("aria-label").startswith("Most likely next tokens:")

    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # Tab from the top of the page
    seen: list[str] = []
    for wanted in ("Layer 1 of 2", "Head 1 of 2", "Show as table"):
        assert tab_to(page, wanted, seen), f"{wanted!r} is not reachable with Tab; focus went: {seen[-8:]}"
    page.keyboard.press("Enter")  # the table under the heatmap opens from the keyboard
    page.locator('[data-testid="stExpander"] [data-testid="stDataFrame"]').first.wait_for(timeout=15_000)
    assert tab_to(page, "Download handout", seen), f"the handout is not reachable with Tab; focus went: {seen[-8:]}"


def test_chart_toolbar_saves_the_format_chosen_in_the_sidebar(app_url, page):
    page.goto(app_url + "/overview")
    page.wait_for_selector(READY, timeout=60_000)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for(timeout=30_000)
    chart.hover()
    chart.locator('.modebar-btn[data-title="Download plot as a PNG"]').wait_for(state="attached", timeout=30_000)
    page.locator('[data-testid="stSidebar"]').get_by_text("SVG", exact=True).click()
    settle(page)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.hover()
    button = chart.locator('.modebar-btn[data-title^="Download plot"]')
    button.wait_for(state="attached", timeout=30_000)
    assert button.count() == 1 and "PNG" not in button.get_attribute("data-title")
    with page.expect_download(timeout=30_000) as download:
        button.click()
    path = download.value.path()
    svg = open(path, encoding="utf-8").read()
    assert download.value.suggested_filename == "attention_layer1_head1.svg"
    assert svg.lstrip().startswith("<svg") and f'width="{SLIDE["width"] * SLIDE["scale"]}"' in svg


def test_handout_downloads_and_opens_offline(app_url, page, browser):
    page.goto(app_url + "/overview")
    page.wait_for_selector(READY, timeout=60_000)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download handout").click()
    assert download.value.suggested_filename.startswith("gpt_handout_")
    html = open(download.value.path(), encoding="utf-8").read()
    offline = browser.new_context(offline=True)
    try:
        doc = offline.new_page()
        requests: list[str] = []
        doc.on("request", lambda r: requests.append(r.url))
        doc.set_content(html)
        assert doc.get_by_role("heading", name="How GPT reads your text").count() == 1
        assert doc.locator("table.map td[data-w]").count() > 0 and doc.locator("svg rect").count() == 10
        assert [r for r in requests if not r.startswith(("data:", "about:"))] == []
    finally:
        offline.close()
