"""The restoration networks by name, and typed construction from overrides.

A network class registers itself with `@register("name")` and carries its config dataclass as
`config_class`. `models/restoration/__init__.py` imports every network module by name, so a broken
network fails loudly at import instead of silently missing from the registry.

    from models.restoration.registry import build
    net = build("unirain", dim=8, enc_blocks=(1, 1, 1, 1))   # y = net(x); net.balance_loss()
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

from torch import nn

NETWORKS: dict[str, type[nn.Module]] = {}

N = TypeVar("N", bound=type[nn.Module])


def register(name: str) -> Callable[[N], N]:
    """Class decorator adding a network (with a dataclass `config_class`) to NETWORKS under `name`."""

    def add(cls: N) -> N:
        if name in NETWORKS:
            raise ValueError(f"network {name!r} is registered twice ({NETWORKS[name].__name__}, {cls.__name__})")
        if not dataclasses.is_dataclass(getattr(cls, "config_class", None)):
            raise TypeError(f"{cls.__name__} needs a dataclass `config_class` to be registered")
        NETWORKS[name] = cls
        return cls

    return add


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Accept what a YAML or CLI override naturally gives (list for tuple, int for float), else demand the type."""
    if isinstance(default, tuple) and isinstance(value, list):
        value = tuple(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    # bool is an int subclass, so True must not pass for an int field (nor 1 for a bool field).
    if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, type(default)):
        raise TypeError(f"{key}={value!r} has type {type(value).__name__}, expected {type(default).__name__}")
    return value


def make_config(config_class: type, **overrides: Any) -> Any:
    """The config dataclass with its defaults replaced by `overrides`; unknown keys raise ValueError."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    for key in overrides:
        if key not in fields:
            raise ValueError(f"unknown {config_class.__name__} key {key!r}; known keys: {', '.join(fields)}")
    values = {key: _coerce(key, value, fields[key].default) for key, value in overrides.items()}
    return config_class(**values)


def build(name: str, **overrides: Any) -> nn.Module:
    """A fresh network `name` built from its default config updated with `overrides`."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; registered: {', '.join(names())}")
    cls = NETWORKS[name]
    return cls(make_config(cls.config_class, **overrides))


def names() -> list[str]:
    """Registered network names, sorted."""
    return sorted(NETWORKS)
