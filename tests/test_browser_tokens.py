"""Real browser: type English, Chinese with an emoji, and HTML on the Tokens page; check chips, counts, safety."""

from __future__ import annotations

import csv
import io

import pytest
from conftest import READY, settle
from playwright.sync_api import expect

from gpt_core.tokenizer import get_tokenizer

NAMES = ["shakespeare_bpe", "r50k_base", "cl100k_base", "o200k_base"]
EVIL = "<img src=x onerror=alert(1)>"


def _wait(page) -> None:
    settle(page)


def _type_prompt(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Your text")
    box.fill(text)
    box.press("Control+Enter")
    _wait(page)


@pytest.fixture
def tokens_page(app_url, page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(app_url + "/tokens")
    page.wait_for_selector(READY, timeout=60_000)
    page.wait_for_selector(".tl-row", timeout=30_000)
    yield page
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not dialogs, f"a script ran: {dialogs}"


def _check_rows(page, text: str) -> None:
    """Every encoding's row has one chip per token and says how many tokens there are."""
    for name in NAMES:
        n = len(get_tokenizer(name).encode(text))
        row = page.locator(f'.tl-row[data-encoding="{name}"]')
        expect(row.locator(".tl-chip")).to_have_count(n, timeout=20_000)  # retries while the page redraws
        assert f"· {n:,} tokens ·" in row.locator(".tl-head").inner_text()


def test_english_text_gives_chips_and_counts_in_every_row(tokens_page):
    text = "Tokenization splits unbelievably long words."
    _type_prompt(tokens_page, text)
    _check_rows(tokens_page, text)
    gpt4o = tokens_page.locator('.tl-row[data-encoding="o200k_base"] .tl-chip')
    assert "".join(gpt4o.all_inner_texts()).replace("⋅", " ") == text
    assert tokens_page.get_by_text("fewer tokens than").count() > 0


def test_chinese_and_emoji_show_split_characters_joined(tokens_page):
    text = "你好，世界！语言模型 🙂"
    _type_prompt(tokens_page, text)
    _check_rows(tokens_page, text)
    gpt2 = tokens_page.locator('.tl-row[data-encoding="r50k_base"]')
    assert gpt2.locator(".tl-part").count() > 0  # tokens that hold part of a character, outlined
    labels = gpt2.locator(".tl-glabel").all_inner_texts()
    assert "= 你" in labels and "= 好" in labels
    tokens_page.get_by_text("Show bytes (hex)").click()
    _wait(tokens_page)
    assert "E4 BD" in gpt2.locator(".tl-sub").all_inner_texts()


def test_html_in_the_prompt_is_text_and_runs_nothing(tokens_page):
    _type_prompt(tokens_page, EVIL)
    _check_rows(tokens_page, EVIL)
    main = tokens_page.locator('[data-testid="stMain"]')
    assert main.locator("img").count() == 0
    assert main.locator("[onerror]").count() == 0
    chips = tokens_page.locator('.tl-row[data-encoding="cl100k_base"] .tl-chip')
    assert "".join(chips.all_inner_texts()).replace("⋅", " ") == EVIL


def test_bpe_replay_steps_to_tiktokens_result_and_csv_downloads(tokens_page):
    _type_prompt(tokens_page, "Tokenization")
    span = tokens_page.get_by_label("Or any span (up to 64 bytes)")
    span.fill("unbelievably")
    span.press("Enter")
    _wait(tokens_page)
    tokens_page.get_by_role("button", name="Next").click()
    _wait(tokens_page)
    expect(tokens_page.get_by_text("Step 1 of").first).to_be_visible(timeout=20_000)
    with tokens_page.expect_download() as info:
        tokens_page.get_by_role("button", name="Download the token table (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert len(rows) == sum(len(get_tokenizer(n).encode("Tokenization")) for n in NAMES)
    assert {r["encoding"] for r in rows} == set(NAMES)
