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
                                         (b"\xff\xfe\xfa bad", "UTF-16-LE byte order mark"),
                                         ("これは短い物語です。".encode("shift_jis") * 3, "no text encoding fits"),
                                         (b"x" * 1000, "limit"), (b"...!?", "no words")])
def test_decode_text_refuses(data, reason):
    with pytest.raises(InputError, match=reason):
        decode_text(data, 100)


def test_decode_text_names_the_file_it_refuses():
    with pytest.raises(InputError, match="^story.txt: the file looks like binary data"):
        decode_text(b"ab\x00cd", 100, "story.txt")


def test_decode_text_reads_a_legacy_encoding_and_says_which():
    story = decode_text("Grüße aus München, “schöne” Straße.".encode("cp1252"), 100)
    assert story == "Grüße aus München, “schöne” Straße." and story.encoding == "cp1252"
