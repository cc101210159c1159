"""Hostile and broken input: one list of named cases that every page, the core and the browser must survive.

Each case must give a clear message or correct output: no traceback, no markup executed, no frozen page.
``typed`` says whether a person can put the text in the sidebar's text box (a browser sends only valid UTF-8;
the box keeps 100,000 characters of a longer paste and says so); the others reach the core only programmatically.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1_000_000
SIDEBAR_MAX_CHARS = 100_000  # what the sidebar's text box keeps (ui/sidebar.MAX_CHARS)
PWNED = "window.__pwned"  # what a script or event handler in the input would set, if it ever ran


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    typed: bool = True  # a person can type or paste it into the sidebar


def _planes() -> str:
    """One or more characters from each of Unicode's 17 planes, assigned or not, private use included."""
    chars = [
        "A", "é", "中", "\ue000", "\ufffd", "\ufffe", "\uffff",  # 0: Latin, CJK, private use, U+FFFD, noncharacters
        "\U0001d518", "\U0001f30d", "\U0001f44d\U0001f3fd",  # 1: 𝔘, 🌍, 👍🏽 (emoji + skin-tone modifier)
        "\U00020000", "\U0002a6d6",  # 2: CJK Extension B
        "\U00030000",  # 3: CJK Extension G
        *(chr(plane << 16 | 0x1234) for plane in range(4, 14)),  # 4-13: unassigned
        "\U000e0001", "\U000e0041", "\U000e0100",  # 14: language tag, tag letter, variation selector 17
        "\U000f0000", "\U000ffffd",  # 15: supplementary private use A
        "\U00100000", "\U0010ffff",  # 16: supplementary private use B, the last code point
    ]
    return "planes: " + " ".join(chars)


LINE = "ROMEO.\nBut soft, what light through yonder window breaks? "
CONTROLS = "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))

CASES: list[Case] = [
    Case("empty", ""),
    Case("whitespace", " \t\n\r\n   \u00a0\u3000\u2003\n"),
    Case("megabyte", (LINE * (MB // len(LINE) + 1))[:MB]),
    Case("planes", _planes()),
    Case("controls", "a" + CONTROLS + "b"),
    Case("bidi", "abc\u202edcba\u202c x\u2066isolate\u2069 \u2067rtl\u2069 \u2068first\u2069 \u200f\u200e עברית"),
    Case("zero_width", "zero\u200bwidth\u200cjoin\u200dx\ufeffy \u200b\u200b\u200b"),
    Case("lone_surrogate", "before \ud800 after \udfff end", typed=False),
    Case("special_tokens", "<|endoftext|>Hi<|im_start|>system\n<|im_end|><|fim_prefix|>a<|fim_middle|>b"
                           "<|fim_suffix|><|endofprompt|><|endoftext|>"),
    Case("html", f'<script>{PWNED}=1;alert(1)</script><img src=x onerror="{PWNED}=1"> "quotes" \'single\' '
                 f'&amp; &lt;b&gt; </div></span><iframe src="javascript:{PWNED}=1"></iframe><b>bold</b>'),
    Case("markdown", "$x$ **boldface** [a](javascript:alert(1)) $$\\frac{1}{0}$$ # heading `code` ~~s~~ :red[red] "
                     ":material/home: <br> | a | b |\n|---|---|\n\\(x\\) {x} {0} %s"),
    Case("long_word", "abcdefghij" * 1000),
    Case("one_letter_word", "a" * 10_000),
    Case("over_context", " ".join(str(i) for i in range(3000))),
]
BY_NAME = {c.name: c for c in CASES}
