"""Building networks by name, with overrides checked against the config dataclass."""
from __future__ import annotations

import pytest

from models.restoration.registry import NETWORKS, build, register
from models.restoration.unirain import UniRain, UniRainConfig
from tests.restoration.configs import SMALL


def test_build_applies_overrides_to_the_config():
    net = build("unirain", **dict(SMALL["unirain"], enc_blocks=[1, 1, 1, 1]))
    assert isinstance(net, UniRain)
    assert net.config.dim == 8 and net.config.enc_blocks == (1, 1, 1, 1)
    assert UniRain().config == UniRainConfig()


def test_unknown_network_and_unknown_key_are_named():
    with pytest.raises(ValueError, match="'resnet'"):
        build("resnet")
    with pytest.raises(ValueError, match="'depth'"):
        build("unirain", depth=3)


def test_mistyped_override_is_rejected():
    with pytest.raises(TypeError, match="dim"):
        build("unirain", dim="48")
    with pytest.raises(TypeError, match="bias"):
        build("restormer", bias=1)


def test_inconsistent_config_is_rejected():
    with pytest.raises(ValueError, match="enc_blocks"):
        build("unirain", enc_blocks=(1, 1, 1))


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="twice"):
        register("unirain")(NETWORKS["restormer"])
