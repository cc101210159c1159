"""Real browser: opening every page asks nothing of any host but the app's own server (offline first).

Streamlit draws a page's Material icon as the browser-tab icon by fetching it from fonts.gstatic.com;
app.py sets a tab icon of its own (an emoji, drawn by the browser) so that no page reaches out.
"""

from urllib.parse import urlparse

from conftest import READY

SLUGS = ["", "overview", "tokens", "embeddings", "attention", "generation", "model", "training", "evolution", "uses"]


def test_no_page_requests_anything_from_another_host(app_url, page):
    own = urlparse(app_url).netloc
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).scheme in ("http", "https", "ws", "wss")
            and urlparse(r.url).netloc != own else None)
    for slug in SLUGS:
        page.goto(f"{app_url}/{slug}")
        page.wait_for_selector(READY, timeout=60_000)
        page.wait_for_timeout(500)  # the tab icon is set after the page's first message
        icon = page.eval_on_selector("link[rel='shortcut icon']", "e => e.href")
        assert icon.startswith("data:image/svg+xml"), (slug, icon[:80])
        assert page.locator('[data-testid="stException"]').count() == 0, slug
    assert outside == []
