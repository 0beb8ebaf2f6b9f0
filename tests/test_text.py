import pytest

from ttvd.errors import InputError
from ttvd.text import clean_text, decode_text


def test_clean_text_strips_and_keeps_words():
    assert clean_text("  Hello, world.\r\n ", 100) == "Hello, world."


@pytest.mark.parametrize("text,reason", [("", "No text"), ("   \n", "No text"), ("...!?", "no words"),
                                         ("x" * 101, "limit is 100")])
def test_clean_text_refuses(text, reason):
    with pytest.raises(InputError, match=reason):
        clean_text(text, 100)


def test_decode_text_accepts_utf8_with_bom():
    assert decode_text("\ufeffCafé story".encode("utf-8"), 100) == "Café story"


@pytest.mark.parametrize("data,reason", [(b"", "empty"), (b" \n\t", "empty"), (b"ab\x00cd", "binary"),
                                         (b"\xff\xfe\xfa bad", "not UTF-8"), (b"x" * 1000, "limit")])
def test_decode_text_refuses(data, reason):
    with pytest.raises(InputError, match=reason):
        decode_text(data, 100)
