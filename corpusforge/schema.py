"""One validator for every mapping a user writes: a stage's keys (its constructor's signature),
a pipeline's top level and `executor:` block, a training config, a tokenizer recipe, a test set.

The target's type hints are the schema: bool, int, float, str, None, Literal, list[X],
tuple[X, ...], dict, unions and Any. `Annotated[T, Key(...)]` adds what a type cannot say:
bounds, allowed values, non-empty, and what the key is (named when it is missing). YAML 1.1
reads `3e-4` (no dot) as a string, so a number written that way is accepted wherever a number
is; an int given for a float becomes a float; a bool is never a number.

Errors are ConfigError (or the subclass given) naming the source and the key path, in the
wording each config's users already know (tests pin both):

    stages[1].trafilatura.max_html_bytes: expected int, got 'big'
    train.yaml: 'lr' must be a number > 0, got 'fast'                    (quote_keys=True)
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from corpusforge.errors import ConfigError

NOT_A_KEY = {"config_key": False}  # metadata of a dataclass field that code sets, never a config
_REQUIRED = object()
_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


@dataclass(frozen=True)
class Key:
    """What a key's value must be beyond its type: `Annotated[int, Key(ge=1)]`."""

    ge: float | None = None
    gt: float | None = None
    lt: float | None = None
    one_of: tuple[Any, ...] = ()
    non_empty: bool = False
    doc: str = ""  # what the key is, for the message when it is missing

    def allows(self, value: Any) -> bool:
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.lt is None or value < self.lt)
            and (not self.one_of or value in self.one_of)
            and not (self.non_empty and not value)
        )

    def describe(self, words: str) -> str:
        if self.one_of:
            return "one of " + ", ".join(map(str, self.one_of))
        if self.non_empty:
            words = "a non-empty " + words.split(" ", 1)[1]
        bounds = [f"{op} {v}" for op, v in ((">=", self.ge), (">", self.gt), ("<", self.lt)) if v is not None]
        return f"{words} {' and '.join(bounds)}" if bounds else words


def validate(
    target: Any,
    data: Any,
    where: str = "",
    source: str = "",
    *,
    error: type[ConfigError] = ConfigError,
    quote_keys: bool = False,
    one_unknown: bool = False,
    partial: bool = False,
) -> dict[str, Any]:
    """Check `data` against `target` (a dataclass, or a class's constructor); return every
    argument, converted, with the defaults filled in (with `partial`: only the keys given).

    `where` is the mapping's key path ("stages[1].trafilatura", "model"), `source` the file.
    `quote_keys` words a problem "'lr' must be a number" rather than "lr: expected float";
    `one_unknown` names the first unknown key with its suggestion rather than listing all."""
    params = _params(target)
    here = f"{where}: " if where else ""

    def fail(text: str) -> typing.NoReturn:
        raise error(f"{source}: {text}" if source else text)

    def name(key: str) -> str:
        return f"{where}.{key}" if where else key

    if not isinstance(data, dict):
        fail(f"{here}expected a mapping of keys ({', '.join(params)}), got {data!r}")
    unknown = [str(k) for k in data if k not in params]
    if unknown:
        close = [difflib.get_close_matches(k, list(params), n=1) for k in unknown]
        known = f"known keys: {', '.join(params)}"
        if one_unknown:
            suggestion = f"did you mean '{name(close[0][0])}'?" if close[0] else known
            fail(f"unknown key '{name(unknown[0])}'; {suggestion}")
        hint = "did you mean " + ", ".join(f"'{c[0]}'" for c in close) + "?" if all(close) else known
        fail(f"{here}unknown key(s) {sorted(unknown)}; {hint}")
    full: dict[str, Any] = {}
    for key, (hint, default) in params.items():
        if key in data:
            try:
                full[key] = _value(data[key], hint)
            except _Mismatch:
                fail(
                    f"'{name(key)}' must be {_describe(hint, True)}, got {data[key]!r}"
                    if quote_keys
                    else f"{name(key)}: expected {_describe(hint, False)}, got {data[key]!r}"
                )
        elif partial:
            continue
        elif default is not _REQUIRED:
            full[key] = default
        else:
            doc = next((f" ({k.doc})" for k in typing.get_args(hint)[1:] if isinstance(k, Key) and k.doc), "")
            fail(f"'{name(key)}'{doc} is missing" if quote_keys else f"{here}missing required key {key!r}{doc}")
    return full


def read_yaml(path: str | Path, what: str, error: type[ConfigError] = ConfigError) -> Any:
    """A YAML file's content, or an error naming the file: not there, or not valid YAML."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{what} not found: {p}")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise error(f"{p}: not valid YAML: {exc}") from None


def _params(target: Any) -> dict[str, tuple[Any, Any]]:
    """{key: (type hint, default or _REQUIRED)} of a dataclass's fields or a class's constructor."""
    if dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target, include_extras=True)
        return {
            f.name: (
                hints[f.name],
                f.default
                if f.default is not dataclasses.MISSING
                else _REQUIRED
                if f.default_factory is dataclasses.MISSING
                else f.default_factory(),
            )
            for f in dataclasses.fields(target)
            if f.init and f.metadata.get("config_key", True)
        }
    hints = typing.get_type_hints(target.__init__, include_extras=True)
    return {
        n: (hints.get(n, Any), _REQUIRED if p.default is p.empty else p.default)
        for n, p in inspect.signature(target.__init__).parameters.items()
        if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


class _Mismatch(Exception):
    """The value does not fit the type hint."""


def _value(value: Any, hint: Any) -> Any:
    """The value as the hint says: as given if it fits, else read leniently (numbers in strings)."""
    try:
        return _convert(value, hint, lenient=False)
    except _Mismatch:
        return _convert(value, hint, lenient=True)


def _convert(value: Any, hint: Any, lenient: bool) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        value = _convert(value, args[0], lenient)
        if all(k.allows(value) for k in args[1:] if isinstance(k, Key)):
            return value
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _convert(value, arg, lenient)
            except _Mismatch:
                pass
    elif origin is Literal:
        if value in args:
            return value
    elif origin is list or hint is list:
        if isinstance(value, list):
            return [_convert(v, args[0], lenient) for v in value] if args else value
    elif origin is tuple or hint is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(_convert(v, args[0], lenient) for v in value) if args else tuple(value)
    elif origin is dict or hint is dict:
        if isinstance(value, dict):
            return (
                {_convert(k, args[0], lenient): _convert(v, args[1], lenient) for k, v in value.items()}
                if args
                else value
            )
    elif hint is Any:
        return value
    elif hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint in (int, float):
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if number is None and lenient and isinstance(value, str):
            number = _parse_number(value)
        if number is not None and hint is float:
            return float(number)
        if number is not None and (isinstance(number, int) or lenient and float(number).is_integer()):
            return int(number)
    elif isinstance(hint, type):
        if isinstance(value, hint):
            return value
    else:
        return value  # a hint the schema does not model: the constructor checks the value
    raise _Mismatch


def _parse_number(text: str) -> int | float | None:
    for parse in (int, float):
        try:
            return parse(text.replace("_", ""))
        except ValueError:
            pass
    return None


def _describe(hint: Any, words: bool) -> str:
    """What a hint accepts: in words ("an integer >= 1") or by Python names ("int")."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        text = _describe(args[0], True)
        for key in args[1:]:
            text = key.describe(text) if isinstance(key, Key) else text
        return text
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a, words) for a in sorted(args, key=lambda a: a is not type(None)))
    if origin is Literal:
        return "one of " + ", ".join(str(a) if words else repr(a) for a in args)
    if origin in (list, tuple) or hint in (list, tuple):
        if not args:
            return "a list"
        item, keys = args[0], ()
        if typing.get_origin(item) is Annotated:
            item, *keys = typing.get_args(item)
        if not (words or keys):
            return f"a list of {_describe(item, False)}"
        non_empty = "non-empty " if any(isinstance(k, Key) and k.non_empty for k in keys) else ""
        return f"a list of {non_empty}{_PLURALS[item]}" if item in _PLURALS else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    if hint is type(None):
        return "null"
    if words and hint in _WORDS:
        return _WORDS[hint]
    return getattr(hint, "__name__", str(hint))
