import pytest

from ttvd import config
from ttvd.errors import ConfigError


def test_defaults_give_a_vertical_1080p_video():
    settings = config.load({})
    assert settings.size() == (1080, 1920)
    assert settings.fps == 30
    assert settings.port == 5000 and settings.host == "127.0.0.1"


@pytest.mark.parametrize("aspect,height,size", [("16:9", 720, (1280, 720)), ("1:1", 1080, (1080, 1080)),
                                                ("9:16", 320, (180, 320))])
def test_size_follows_aspect_and_height(aspect, height, size):
    assert config.load({"TTVD_ASPECT": aspect, "TTVD_HEIGHT": str(height)}).size() == size


@pytest.mark.parametrize("name,value", [("TTVD_PORT", "http"), ("TTVD_PORT", "-1"), ("TTVD_ASPECT", "4:3"),
                                        ("TTVD_HEIGHT", "321"), ("TTVD_CRF", "99"), ("TTVD_LOG_LEVEL", "LOUD")])
def test_bad_values_are_refused_with_the_setting_named(name, value):
    with pytest.raises(ConfigError, match=name):
        config.load({name: value})


def test_overrides_win_over_environment():
    assert config.load({"TTVD_PORT": "6000"}, TTVD_PORT="7000").port == 7000
