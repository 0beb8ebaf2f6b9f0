"""Story files in every encoding a newcomer's editor may save: read right, or refused naming the file
and saying how to convert it. Each case is a real file, written and read back from disk."""
from __future__ import annotations

import copy
import dataclasses
import io
import json
import logging
import subprocess
import sys

import pytest
from PIL import Image

from ttvd.errors import InputError, NoText
from ttvd.request import Request
from ttvd.text import DecodedText, NotText, decode_text

from helpers import process_env

CURLY = "He said “hello” to the café owner — twice. She smiled."
LATIN1 = "Café à la crème, déjà vu. Ça va?"
FRENCH = "Café à la crème, déjà vu. Ça va, l’ami\u00a0?"  # a no-break space before "?", as French typesets
RUSSIAN = "Привет, как дела? Это короткая история о коте."
JAPANESE = "これは短い物語です。猫がいました。"


def read(tmp_path, name: str, data: bytes, max_chars: int = 1000) -> DecodedText:
    path = tmp_path / name
    path.write_bytes(data)
    return decode_text(path.read_bytes(), max_chars, path.name)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("data,text,encoding", [
    (CURLY.encode("utf-8"), CURLY, "utf-8"),
    (b"\xef\xbb\xbf" + CURLY.encode("utf-8"), CURLY, "utf-8"),
    (CURLY.encode("cp1252"), CURLY, "cp1252"),
    (LATIN1.encode("latin-1"), LATIN1, "cp1252"),  # latin-1's printable characters are cp1252's, byte for byte
    ("café".encode("latin-1"), "café", "cp1252"),  # a single accent: cp1252 wins the tie
    (FRENCH.encode("cp1252"), FRENCH, "cp1252"),
    (RUSSIAN.encode("cp1251"), RUSSIAN, "cp1251"),
    (RUSSIAN.encode("koi8-r"), RUSSIAN, "koi8-r"),
    (b"\xff\xfe" + CURLY.encode("utf-16-le"), CURLY, "utf-16-le"),
    (b"\xfe\xff" + CURLY.encode("utf-16-be"), CURLY, "utf-16-be"),
    (CURLY.encode("utf-16-le"), CURLY, "utf-16-le"),
    (CURLY.encode("utf-16-be"), CURLY, "utf-16-be"),
    (CURLY.encode("utf-32"), CURLY, "utf-32-le"),
])
def test_each_encoding_is_read_and_named(tmp_path, data, text, encoding):
    story = read(tmp_path, "story.txt", data)
    assert story == text and story.encoding == encoding


def test_a_legacy_encoding_is_logged_with_the_file_name(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ttvd.text"):
        read(tmp_path, "story.txt", CURLY.encode("cp1252"))
        read(tmp_path, "plain.txt", CURLY.encode("utf-8"))
    assert [r.getMessage() for r in caplog.records] == ["read story.txt as cp1252"]


def test_binary_data_is_refused_naming_the_file_and_what_it_is(tmp_path):
    with pytest.raises(NotText) as refused:
        read(tmp_path, "holiday photo.txt", png_bytes())
    assert str(refused.value).startswith("holiday photo.txt: the file looks like binary data (a PNG image), not text;")
    assert "plain text (UTF-8)" in str(refused.value)


def test_control_bytes_without_nul_are_binary(tmp_path):
    with pytest.raises(NotText, match="binary data, not text"):
        read(tmp_path, "noise.txt", bytes(range(1, 256)) * 2)


def test_no_fitting_encoding_gives_the_guess_and_an_iconv_line(tmp_path):
    with pytest.raises(NotText) as refused:
        read(tmp_path, "my story.txt", JAPANESE.encode("shift_jis") * 3)
    message = str(refused.value)
    assert message.startswith("my story.txt: no text encoding fits the file (closest guess: cp932);")
    assert message.endswith("iconv -f CP932 -t UTF-8 'my story.txt' > 'my story.utf8.txt'")
    converted = subprocess.run(["iconv", "-f", "CP932", "-t", "UTF-8", tmp_path / "my story.txt"],
                               capture_output=True, check=True).stdout
    assert decode_text(converted, 1000) == JAPANESE * 3  # the advice works


def test_utf8_with_stray_legacy_bytes_is_refused_not_guessed(tmp_path):
    data = "Café “quoted”.\nAnd ".encode() + "é".encode("cp1252") + b" more."
    with pytest.raises(NotText, match=r"mixed\.txt: the file is UTF-8 text with bytes of another encoding mixed in "
                                      r"\(the first on line 2\); .* iconv -f UTF-8 -t UTF-8 -c mixed\.txt"):
        read(tmp_path, "mixed.txt", data)


def test_a_wrong_byte_order_mark_is_refused(tmp_path):
    with pytest.raises(NotText, match="odd.txt: the file starts with a UTF-16-LE byte order mark but is not"):
        read(tmp_path, "odd.txt", b"\xff\xfe" + b"abc")


def test_a_refusal_without_a_name_is_named_later():
    with pytest.raises(NotText) as refused:
        decode_text(JAPANESE.encode("shift_jis") * 3, 1000)
    assert str(refused.value).endswith("iconv -f CP932 -t UTF-8 FILE > FILE.utf8.txt")
    assert str(refused.value.named("tale.txt")).endswith("iconv -f CP932 -t UTF-8 tale.txt > tale.utf8.txt")
    assert isinstance(refused.value, InputError)


def test_empty_and_too_long_files_name_the_file(tmp_path):
    with pytest.raises(NoText, match="^blank.txt: the file is empty$"):
        read(tmp_path, "blank.txt", b" \n")
    with pytest.raises(InputError, match="^long.txt: the file is 500 bytes; the limit is 100 characters$"):
        read(tmp_path, "long.txt", b"x" * 500, max_chars=100)


def test_decoded_text_is_a_str_that_survives_a_request_copy():
    story = DecodedText("Café", "cp1252")
    copied = dataclasses.asdict(Request("a" * 32, story))["text"]  # what Spool.submit writes
    assert copied == "Café" and copied.encoding == "cp1252" and copy.deepcopy(story).encoding == "cp1252"
    assert json.loads(json.dumps({"text": story}, ensure_ascii=False)) == {"text": "Café"}


@pytest.mark.slow
def test_submit_reads_a_cp1252_file_with_the_right_characters(home, tmp_path):
    story = tmp_path / "file_cp1252.txt"
    story.write_bytes(CURLY.encode("cp1252"))
    run = subprocess.run([sys.executable, "-m", "ttvd", "submit", str(story)], env=process_env(home),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.strip()
    request = json.loads((home / "spool" / "incoming" / f"{job_id}.json").read_text(encoding="utf-8"))
    assert request["text"] == CURLY
    assert f"read {story} as cp1252" in run.stderr


@pytest.mark.slow
def test_submit_refuses_a_binary_file_naming_it(home, tmp_path):
    photo = tmp_path / "photo.txt"
    photo.write_bytes(png_bytes())
    run = subprocess.run([sys.executable, "-m", "ttvd", "submit", str(photo)], env=process_env(home),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"ttvd: {photo}: the file looks like binary data (a PNG image)"), run.stderr
