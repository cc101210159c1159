"""Chart labels for tokens that are only part of a character: the character and which part."""

from gpt_core import get_tokenizer
from gpt_core.tokenizer import part_labels, whole_characters


def test_whole_characters_joins_a_character_split_between_tokens():
    cat, robot = "我".encode(), "🤖".encode()
    pieces = [b"A ", cat[:1], cat[1:], robot[:2], robot[2:3], robot[3:] + b" b", b"\xff", b"ok", cat[:2]]
    assert whole_characters(pieces) == [
        (0, 1, "A "), (1, 3, "我"), (3, 6, "🤖 b"), (6, 7, "\ufffd"), (7, 8, "ok"), (8, 9, "\ufffd"),
    ]
    assert whole_characters([]) == []


def test_part_labels_name_the_character_and_the_part():
    cat = "我".encode()
    assert part_labels([b"I", cat[:1], cat[1:2], cat[2:], b" x"]) == ["I", "我(1/3)", "我(2/3)", "我(3/3)", " x"]
    assert part_labels([cat[1:]]) == ["\ufffd\ufffd"]  # a character cut at the start of the context


def test_a_prompt_run_labels_byte_tokens_and_keeps_its_display_strings(tiny_model_dir):
    from gpt_core import load_model
    from gpt_core.prompt import run_prompt

    run = run_prompt(load_model("default"), "我爱你 ok")
    tok = get_tokenizer("shakespeare_bpe")
    assert run.tokens == tok.token_strs(run.ids)  # unchanged: one U+FFFD per byte token
    n = len("我".encode())
    assert run.labels[:n] == [f"我({j}/{n})" for j in range(1, n + 1)]
    assert run.labels[-1] == run.tokens[-1] and len(run.labels) == len(run.ids)
