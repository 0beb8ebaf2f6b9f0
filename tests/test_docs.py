"""The README's settings table lists every setting with its real default."""
import re
from pathlib import Path

from ttvd.config import SETTINGS

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_documented_with_default():
    rows = dict(re.findall(r"^\| `(TTVD_\w+|OPENAI_\w+|PEXELS_\w+)` \| `([^`]*)` \|", README, re.M))
    for setting in SETTINGS:
        assert setting.name in rows, f"{setting.name} missing from the README settings table"
        assert rows[setting.name] == setting.default, f"{setting.name}: README says {rows[setting.name]!r}"


def test_readme_has_quick_start_commands():
    assert "make demo" in README and "make test" in README
