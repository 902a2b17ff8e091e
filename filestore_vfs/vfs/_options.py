"""Typed config options: every value a config gives a root is checked against its type first.

YAML, ``${ENV}`` substitution and quoted values all give strings, and ``bool("false")`` is
``True``. So before a root class sees its options, each is coerced to the type its
constructor declares (the annotations of ``__init__``, followed up the MRO through
``**common`` as :func:`._config._signature` does), strictly:

``bool``
    ``true``/``yes``/``on``/``1`` and ``false``/``no``/``off``/``0`` (any case), YAML's own
    booleans, and the integers 1 and 0; anything else is an error.
``int``, ``float``
    Numbers, and strings that spell one (``"123"``, ``"1.5"``); never a boolean.
``str``
    Strings only (a number given where a string is expected must be quoted), and
    ``os.PathLike`` objects from mappings built in Python.
``X | None``, ``Literal[...]``, ``dict[str, ...]``, ``list[...]``
    As they read; ``Any`` (and an annotation this module does not know) is passed as is.

Numbers are then checked against :data:`OPTION_RANGES`, one table for every root class.
An error is a :class:`ConfigError` naming where the config came from, the root, the option,
the value (never that of a secret option: :data:`._root.SECRET_OPTION`) and what was expected.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

from ._errors import ConfigError
from ._root import SECRET_OPTION

__all__ = [
    "OPTION_RANGES",
    "BOOL_FALSE",
    "BOOL_TRUE",
    "Option",
    "Range",
    "coerce_bool",
    "coerce_options",
    "describe_type",
    "option_types",
    "understood",
]

#: The spellings of a boolean in a string (compared case-insensitively, without spaces).
BOOL_TRUE = frozenset({"true", "yes", "on", "1"})
BOOL_FALSE = frozenset({"false", "no", "off", "0"})
_BOOL_TEXT = "a boolean (true/false, yes/no, on/off, 1/0)"
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Range:
    """Allowed values of a number: ``low`` (inclusive, or exclusive with ``low_open``) to
    ``high`` (inclusive)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"from {self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"<= {self.high:g}"


_POSITIVE = Range(0, low_open=True)
_NOT_NEGATIVE = Range(0)
_AT_LEAST_ONE = Range(1)

#: The allowed values of numeric options, by option name, for every root class (a third-party
#: class with an option of the same name and a numeric type gets the same check).
OPTION_RANGES: Mapping[str, Range] = types.MappingProxyType(
    {
        # every network root (backends/_network.py)
        "timeout": _POSITIVE,
        "retries": _NOT_NEGATIVE,
        "retry_backoff": _NOT_NEGATIVE,
        "block_size": _AT_LEAST_ONE,
        # servers
        "port": Range(1, 65535),
        # object stores and Redis
        "part_size": _AT_LEAST_ONE,
        "chunk_size": _AT_LEAST_ONE,
        "max_file_size": _AT_LEAST_ONE,
        "expiry": _POSITIVE,
        "db": _NOT_NEGATIVE,
        # locks and leases
        "lock_timeout": _NOT_NEGATIVE,  # 0: any other writer's lock file counts as stale
        "lock_ttl": _POSITIVE,
        "lease_duration": Range(15, 60),
    }
)


class _MismatchError(Exception):
    """A value that does not fit a type (internal: becomes a ConfigError with context)."""


# -- the types of a root class's options ------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One keyword option of a root class: its declared type and whether it has a default."""

    type: Any
    required: bool


@functools.cache
def option_types(cls: type) -> Mapping[str, Option]:
    """Each keyword option of ``cls`` with its declared type (``Any`` where there is none).

    Follows ``**common`` up the MRO like :func:`._config._signature`; the class nearest in
    the MRO decides an option's type and default.
    """
    found: dict[str, Option] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        resolved = _hints(init)
        passes_on = False
        for param in list(inspect.signature(init).parameters.values())[1:]:
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                passes_on = True
            elif param.kind is not inspect.Parameter.VAR_POSITIONAL and param.name not in found:
                required = param.default is inspect.Parameter.empty
                found[param.name] = Option(resolved.get(param.name, Any), required)
        if not passes_on:
            break
    return types.MappingProxyType(found)


def _hints(function: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001  # a name only imported for type checkers: resolve one by one
        pass
    hints = {}
    namespace = getattr(function, "__globals__", {})
    for name, annotation in getattr(function, "__annotations__", {}).items():
        try:
            hints[name] = (
                eval(annotation, namespace)  # noqa: S307  # an annotation of the class's own code
                if isinstance(annotation, str)
                else annotation
            )
        except Exception:  # noqa: BLE001, S112  # unknown: the value passes unchecked
            continue
    return hints


def describe_type(tp: Any) -> str:
    """What a value of type ``tp`` looks like, for people (``"an integer or null"``)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return "any value"
    if tp is bool:
        return _BOOL_TEXT
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if tp is type(None):
        return "null"
    if origin is Literal:
        words = [repr(v) for v in typing.get_args(tp)]
        return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a mapping"
    if origin is list or tp is list:
        return "a list"
    if _is_union(tp):
        args = typing.get_args(tp)
        parts = [describe_type(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        if type(None) not in args:
            return text
        return f"{text}, or null" if " or " in text else f"{text} or null"
    return getattr(tp, "__name__", str(tp))


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def understood(tp: Any) -> bool:
    """Whether :func:`coerce_options` checks values of type ``tp`` (rather than passing them)."""
    origin = typing.get_origin(tp)
    if tp in (bool, int, float, str, type(None), Any, dict, list):
        return True
    if origin is Literal:
        return True
    if origin in (dict, Mapping, list) or _is_union(tp):
        return all(understood(a) for a in typing.get_args(tp))
    return False


# -- coercion ------------------------------------------------------------------------------------
def _coerce(value: Any, tp: Any) -> Any:
    """``value`` as a ``tp``, or :class:`_MismatchError`."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _MismatchError
    if tp is bool:
        return _to_bool(value)
    if tp is int:
        return _to_int(value)
    if tp is float:
        return _to_float(value)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, os.PathLike):  # a pathlib.Path in a mapping built in Python
            path = os.fspath(value)
            if isinstance(path, str):
                return path
        raise _MismatchError
    if origin is Literal:
        return _to_literal(value, typing.get_args(tp))
    if _is_union(tp):
        return _to_union(value, typing.get_args(tp))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _MismatchError
        key_type, value_type = typing.get_args(tp) or (Any, Any)
        return {_coerce(k, key_type): _coerce(v, value_type) for k, v in value.items()}
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise _MismatchError
        (item_type,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_type) for v in value]
    return value  # a type this layer does not know: the class checks it


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in BOOL_TRUE:
            return True
        if word in BOOL_FALSE:
            return False
    raise _MismatchError


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _MismatchError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    raise _MismatchError


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _MismatchError
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        raise _MismatchError
    if not math.isfinite(number):
        raise _MismatchError
    return number


def _to_literal(value: Any, choices: tuple[Any, ...]) -> Any:
    for choice in choices:
        if type(value) is type(choice) and value == choice:
            return choice
        if isinstance(value, str) and not isinstance(choice, str):
            try:
                if _coerce(value, type(choice)) == choice:
                    return choice
            except _MismatchError:
                continue
    raise _MismatchError


def _to_union(value: Any, args: tuple[Any, ...]) -> Any:
    # A string is first tried as the other types (so "false" is False for ``bool | str``).
    ordered = sorted(args, key=lambda a: a is str) if isinstance(value, str) else args
    for arg in ordered:
        try:
            return _coerce(value, arg)
        except _MismatchError:
            continue
    raise _MismatchError


_KINDS = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def _shown(name: str, value: Any) -> str:
    if SECRET_OPTION.search(name):
        kind = _KINDS.get(type(value)) or f"a value of type {type(value).__name__}"
        return f"{kind} (its value is hidden: {name!r} may hold a secret)"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _expects_str(tp: Any) -> bool:
    return tp is str or (_is_union(tp) and str in typing.get_args(tp))


def coerce_value(name: str, value: Any, tp: Any, where: str) -> Any:
    """``value`` of option ``name`` as type ``tp``, within its range; else a ConfigError."""
    try:
        result = _coerce(value, tp)
    except _MismatchError:
        shown = _shown(name, value)
        if _expects_str(tp) and isinstance(value, (int, float)) and not isinstance(value, bool):
            note = "quote it in YAML to give a string"
            shown = f"{shown[:-1]}; {note})" if shown.endswith(")") else f"{shown} ({note})"
        raise ConfigError(
            f"{where}: option {name!r} must be {describe_type(tp)}, not {shown}"
        ) from None
    limits = OPTION_RANGES.get(name)
    if (
        limits is not None
        and isinstance(result, (int, float))
        and not isinstance(result, bool)
        and result not in limits
    ):
        kind = "an integer" if isinstance(result, int) else "a number"
        shown = "a value out of range" if SECRET_OPTION.search(name) else repr(result)
        raise ConfigError(f"{where}: option {name!r} must be {kind} {limits}, not {shown}")
    return result


def coerce_options(cls: type, options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The options of a root of class ``cls``, each coerced to its declared type.

    ``null`` for an option that has a default but is not ``X | None`` (``prefix:`` left
    empty in YAML) means that default: the option is left out.
    """
    declared = option_types(cls)
    coerced = {}
    for name, value in options.items():
        option = declared.get(name, Option(Any, required=False))
        if value is None and not option.required and not _accepts_none(option.type):
            continue
        coerced[name] = coerce_value(name, value, option.type, where)
    return coerced


def _accepts_none(tp: Any) -> bool:
    return tp is Any or tp is type(None) or (_is_union(tp) and type(None) in typing.get_args(tp))


def coerce_bool(value: Any, where: str) -> bool:
    """A boolean from a config value, with the same spellings as options."""
    try:
        return _to_bool(value)
    except _MismatchError:
        shown = _shown("defaults", value)
        raise ConfigError(f"{where} must be {_BOOL_TEXT}, not {shown}") from None
