"""Real browser: a shared link opens the same view (prompt, page, layer, head, query token), the widgets
stay in control afterwards, and the Share dialog shows the link and its QR code."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from conftest import settle
from playwright.sync_api import expect

PROMPT = "JULIET.\nO Romeo, Romeo, wherefore art thou Romeo?"
LINK = {"prompt": PROMPT, "layer": "2", "head": "2", "query": "3"}


def address(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def picker(page, key: str):
    return page.locator(f".st-key-attention-{key}")


def picked(page, key: str) -> str:
    """What a picker shows (a selectbox's combobox holds it as its value)."""
    return picker(page, key).get_by_role("combobox").input_value()


def test_a_shared_link_opens_the_same_view(app_url, page):
    page.goto(f"{app_url}/attention?{urlencode(LINK)}")
    settle(page)
    page.get_by_role("heading", name="Layer 2, head 2").wait_for(timeout=30_000)
    # waits while the sidebar is still being drawn (on a busy machine it can lag the heading)
    expect(page.get_by_role("textbox", name="Your text")).to_have_value(PROMPT, timeout=20_000)
    assert picked(page, "layer") == "2 / 2" and picked(page, "head") == "2 / 2"
    assert picked(page, "query").startswith("3 · ")
    assert address(page) == {"lang": "en", **LINK}  # the app writes the view back: the same link
    assert page.locator('[data-testid="stException"]').count() == 0

    picker(page, "layer").click()  # the widgets are in control after the link was applied
    page.get_by_role("option", name="1 / 2").click()
    settle(page)
    page.get_by_role("heading", name="Layer 1, head 2").wait_for(timeout=30_000)
    page.wait_for_function("!location.search.includes('layer=')", timeout=10_000)
    assert address(page)["head"] == "2" and address(page)["prompt"] == PROMPT
    assert picked(page, "layer") == "1 / 2"


def test_share_dialog_shows_the_link_and_a_large_qr_code(app_url, page):
    page.goto(f"{app_url}/attention?{urlencode(LINK)}")
    settle(page)
    page.get_by_role("button", name="Share this view").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    shared = urlsplit(dialog.locator("code").inner_text().strip())
    assert shared.path == "/attention"
    assert {k: v[0] for k, v in parse_qs(shared.query).items()} == {"lang": "en", **LINK}
    qr = dialog.locator("img.links-qr")
    qr.wait_for(timeout=10_000)
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    assert qr.bounding_box()["width"] >= 400  # large enough to scan from the back of a classroom
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_hostile_link_opens_with_defaults_and_a_notice(app_url, page):
    hostile = {"layer": "99", "head": "<script>window.__pwned=1</script>",
               "prompt": "<img src=x onerror=window.__pwned=1>"}
    page.goto(f"{app_url}/attention?{urlencode(hostile)}")
    settle(page)
    page.get_by_role("heading", name="Layer 1, head 1").wait_for(timeout=30_000)
    page.locator('[data-testid="stToast"]').wait_for(timeout=30_000)
    assert page.evaluate("window.__pwned") is None
    assert page.get_by_role("textbox", name="Your text").input_value() == hostile["prompt"]
    assert "layer" not in address(page) and "head" not in address(page)
    assert page.locator('[data-testid="stException"]').count() == 0
