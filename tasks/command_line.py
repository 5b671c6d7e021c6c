"""Command lines and flow signatures built from a settings model (tasks.distill_config), so a field is
declared once and every way in — `python -m flows.X --field`, the Prefect form, a deployment — sees it."""
from __future__ import annotations

import argparse
import inspect
import types
import typing
from typing import Any, Callable, TypeVar

from pydantic import BaseModel
from pydantic.fields import FieldInfo

F = TypeVar("F", bound=Callable[..., Any])


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_list(annotation: Any) -> bool:
    """`list[X]` or `list[X] | None`."""
    return list in (typing.get_origin(annotation), *(typing.get_origin(a) for a in typing.get_args(annotation)))


def _scalar(annotation: Any) -> Any:
    """int for `int`, str for `list[str] | None`: the type argparse converts each value with."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _scalar(args[0])
    if typing.get_origin(annotation) is list:
        return args[0]
    return annotation


def _help(info: FieldInfo) -> str:
    default = "" if info.is_required() or info.default in (None, False) else f" (default: {info.default})"
    return (info.description or "") + default


def add_model_arguments(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """One option per field of `model`: required fields are required options, a bool is --x/--no-x,
    a list takes what the field's json_schema_extra "cli" says (nargs or action), default nargs='*'."""
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        options: dict[str, Any] = {"dest": name, "help": _help(info)}
        scalar = _scalar(info.annotation)
        if scalar is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(scalar) is typing.Literal:
            options.update(type=str, choices=list(typing.get_args(scalar)))
        else:
            options["type"] = scalar
            if _is_list(info.annotation):
                options.update(extra.get("cli", {"nargs": "*"}))
        if info.is_required():
            options["required"] = True
        else:
            options["default"] = argparse.SUPPRESS   # the model's default applies: written once, there
        parser.add_argument(flag(name), **options)


def model_from_arguments(model: type[BaseModel], args: argparse.Namespace) -> BaseModel:
    """The model from the options that were given (pydantic.ValidationError on a bad value)."""
    return model(**{name: getattr(args, name) for name in model.model_fields if hasattr(args, name)})


def takes_model_fields(model: type[BaseModel]) -> Callable[[F], F]:
    """Give `def fn(**settings)` the signature and docstring of `model`'s fields, so Prefect shows and
    validates each field as a parameter of its own (`-p profile=offline`, the UI's form)."""

    def decorate(fn: F) -> F:
        parameters = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=info.annotation,
                                        default=inspect.Parameter.empty if info.is_required() else info.default)
                      for name, info in model.model_fields.items()]
        return_annotation = inspect.signature(fn).return_annotation
        fn.__signature__ = inspect.Signature(parameters, return_annotation=return_annotation)  # type: ignore[attr-defined]
        fn.__annotations__ = {**{n: i.annotation for n, i in model.model_fields.items()},
                              "return": return_annotation}
        args = "\n".join(f"    {name}: {info.description}" for name, info in model.model_fields.items())
        fn.__doc__ = f"{inspect.cleandoc(fn.__doc__ or '')}\n\nArgs:\n{args}\n"
        return fn

    return decorate
