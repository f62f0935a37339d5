"""One JSON (de)serialiser for the project's frozen config dataclasses.

:func:`to_dict`, :func:`from_dict` and :func:`replace` read a class's fields and type hints
(``dataclasses.fields``, ``typing.get_type_hints``), so a config class declares its fields and
validation (``__post_init__``) and nothing else; :class:`Config` gives it the three as methods.

This module imports nothing from ``dtac_jax`` (standard library only), so every package,
``dtac_jax.env`` included, may import it.

Supported field types: nested config dataclasses (built from dicts), ``tuple[X, ...]`` and
``tuple[X, Y]`` (built from lists), ``list[X]``, ``dict[str, X]``, ``X | None``, and plain
scalars (passed through; the class's ``__post_init__`` validates them).
"""
from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from typing import Any, ClassVar, Self, TypeVar

T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """The fields of a config dataclass as a JSON-ready dict: nested dataclasses as dicts,
    tuples as lists. ``json.dumps`` of it equals ``json.dumps(dataclasses.asdict(cfg))``."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"to_dict needs a dataclass instance, got {cfg!r}")
    return _plain(cfg)


def resumable(cls: type) -> frozenset[str]:
    """The dotted names of the fields of config class ``cls`` that a resumed run may change:
    its ``RESUMABLE`` and, under their field's name, those of its nested configs."""
    out = set(getattr(cls, "RESUMABLE", ()))
    for f in dataclasses.fields(cls):
        sub = _hints(cls).get(f.name)
        if isinstance(sub, type) and dataclasses.is_dataclass(sub):
            out.update(f"{f.name}.{k}" for k in resumable(sub))
    return frozenset(out)


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def from_dict(cls: type[T], d: dict[str, Any], base: T | None = None) -> T:
    """Build ``cls`` from a dict such as :func:`to_dict` writes.

    A missing key takes the field's value in ``base`` (default: the field's default), or the
    class's ``_legacy_defaults[key]`` when it names one (the value configs written before that
    field existed meant). Nested dataclass fields are built from their dicts the same way with
    the field's default as their ``base`` (so ``{"collect": {"envs": 4}}`` changes one field of
    the owner's collection settings, and a nested class's legacy defaults still apply), tuples
    from lists. An unknown key raises a one-line ``ValueError`` naming the class, the unknown
    and the known fields. A key the class has renamed (``RENAMED``) is read as its new name,
    with one line on stderr.
    """
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__} needs a dict of its fields, got {type(d).__name__}")
    d = renamed(cls, d)
    known = _check_known(cls, d)
    hints = _hints(cls)
    kw = {**getattr(cls, "_legacy_defaults", {}), **d}
    nested = {f.name: getattr(base, f.name) if base is not None else f.default
              for f in dataclasses.fields(cls)}
    nested = {k: v for k, v in nested.items()
              if dataclasses.is_dataclass(v) and not isinstance(v, type)}
    kw = {k: from_dict(type(nested[k]), v, nested[k]) if k in nested and isinstance(v, dict)
          else _build(hints[k], v) for k, v in kw.items()}
    if base is not None:
        return dataclasses.replace(base, **kw)
    missing = [f.name for f in dataclasses.fields(cls) if f.name in known and f.name not in kw
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{cls.__name__} needs field(s) {', '.join(missing)}")
    return cls(**kw)


def replace(cfg: T, **kw: Any) -> T:
    """``dataclasses.replace`` with the conversions of :func:`from_dict`; a nested dataclass
    field also takes a dict of its own fields, merged into the current value. An unknown field
    raises the one-line ``ValueError`` of :func:`from_dict`."""
    cls = type(cfg)
    kw = renamed(cls, kw)
    _check_known(cls, kw)
    hints = _hints(cls)
    new = {}
    for k, v in kw.items():
        current = getattr(cfg, k)
        if isinstance(v, dict) and dataclasses.is_dataclass(current):
            new[k] = replace(current, **v)
        else:
            new[k] = _build(hints[k], v)
    return dataclasses.replace(cfg, **new)


class Config:
    """Mixin for frozen config dataclasses: ``to_dict``, ``from_dict`` and ``replace`` methods
    calling this module's functions.

    ``_config_label`` names the class in error messages (default: the class name);
    ``_legacy_defaults`` maps a field to the value a dict without it means (default: the
    field's default); ``RENAMED`` maps a field's former name to its name (:func:`renamed`).
    """

    _config_label: ClassVar[str | None] = None
    _legacy_defaults: ClassVar[dict[str, Any]] = {}
    #: the fields a resumed run may change: they set the size of each optimiser step
    #: (learning rates, weight decay, clipping) and no shape in the saved state
    #: (:func:`resumable`; nested configs declare their own)
    RESUMABLE: ClassVar[frozenset[str]] = frozenset()
    #: former field names -> current ones: old config files and ``--set`` paths still load
    RENAMED: ClassVar[dict[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (:func:`to_dict`)."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """An instance built from a dict of fields (:func:`from_dict`)."""
        return from_dict(cls, d)

    def replace(self, **kw: Any) -> Self:
        """A copy with fields replaced; nested configs also take a dict (:func:`replace`)."""
        return replace(self, **kw)


# --------------------------------------------------------------------------- helpers
_WARNED: set[tuple[str, str]] = set()


def renamed(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with the keys ``cls.RENAMED`` lists under their current names; each former name
    prints one deprecation line on stderr (once per process). A dict giving a field under both
    names raises a one-line ``ValueError``."""
    old = {k: new for k, new in getattr(cls, "RENAMED", {}).items() if k in d}
    if not old:
        return d
    label = getattr(cls, "_config_label", None) or cls.__name__
    out = {k: v for k, v in d.items() if k not in old}
    for k, new in old.items():
        if new in d:
            raise ValueError(f"{label}: {k!r} and {new!r} name the same field: give {new!r} "
                             "alone")
        out[new] = d[k]
        if (label, k) not in _WARNED:
            _WARNED.add((label, k))
            print(f"dtac: {label}.{k} is deprecated: it is read as {label}.{new}; write "
                  f"{new!r}", file=sys.stderr)
    return out


def _check_known(cls: type, d: dict[str, Any]) -> set[str]:
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(k for k in d if k not in known)
    if unknown:
        label = getattr(cls, "_config_label", None) or cls.__name__
        raise ValueError(f"unknown {label} field(s): {', '.join(map(str, unknown))} "
                         f"(known: {', '.join(sorted(known))})")
    return known


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(hint: Any, v: Any) -> Any:
    """``v`` converted to the type ``hint`` where JSON loses it (dataclasses, tuples)."""
    if v is None:
        return v
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _build(rest[0], v) if len(rest) == 1 else v
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, v) if isinstance(v, dict) else v
    if origin is tuple and isinstance(v, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], x) for x in v)
        if args and len(args) == len(v):
            return tuple(_build(a, x) for a, x in zip(args, v))
        return tuple(v)
    if origin is list and isinstance(v, (list, tuple)):
        return [_build(args[0], x) for x in v] if args else list(v)
    if origin is dict and isinstance(v, dict):
        return {k: _build(args[1], x) for k, x in v.items()} if args else dict(v)
    return v


# --------------------------------------------------------------------------- files, overrides
def read_file(path) -> dict[str, Any]:
    """A config file as a dict: JSON, or YAML (``.yaml`` / ``.yml``, needs PyYAML). Errors
    name the file."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml
            d = yaml.safe_load(text)
        else:
            d = json.loads(text)
    except Exception as err:  # any parse error, reported with the file
        raise ValueError(f"config file {path} is not valid "
                         f"{'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: "
                         f"{str(err).splitlines()[0]}") from None
    if not isinstance(d, dict):
        raise ValueError(f"config file {path} must hold a mapping of fields")
    return d


def parse_value(text: str) -> Any:
    """A command-line value: JSON where it parses (numbers, ``true``, lists), else the string."""
    import json
    try:
        return json.loads(text)
    except ValueError:
        return text


def set_path(cfg: T, path: str, value: Any) -> T:
    """``cfg`` with the field at dotted ``path`` (e.g. ``collect.envs``) set to ``value``,
    checked against the field's type hint."""
    head, _, rest = path.partition(".")
    cls = type(cfg)
    head = next(iter(renamed(cls, {head: None})))
    _check_known(cls, {head: None})
    if rest:
        current = getattr(cfg, head)
        if isinstance(current, dict):   # a mapping of fields (e.g. overrides of another config)
            return replace(cfg, **{head: _set_in(current, rest, value)})
        if not (dataclasses.is_dataclass(current) and not isinstance(current, type)):
            raise ValueError(f"{cls.__name__}.{head} has no field {rest!r}")
        return replace(cfg, **{head: set_path(current, rest, value)})
    hint = _hints(cls)[head]
    if hint in (int, float, bool, str) and not _fits(hint, value):
        raise ValueError(f"{cls.__name__}.{head} must be {hint.__name__}, got {value!r}")
    return replace(cfg, **{head: value})


def _set_in(d: dict, path: str, value: Any) -> dict:
    """A copy of ``d`` with ``value`` at dotted ``path`` (nested dicts created as needed)."""
    head, _, rest = path.partition(".")
    inner = d.get(head, {})
    return {**d, head: _set_in(inner if isinstance(inner, dict) else {}, rest, value)
            if rest else value}


def _fits(hint: type, value: Any) -> bool:
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def configure(sections: dict[str, Any], default: str, *, file: dict[str, Any] | None = None,
              source: str = "config file", sets: list[str] = (),
              aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """Apply a config file's mapping, then ``PATH=VALUE`` overrides, to named config sections.

    ``sections`` maps a section name (``"scenario"``, ``"tac"``, ``"profile"``) to its current
    config; ``aliases`` maps other names to a section (e.g. ``"dtac"`` to ``"transfer"``). In
    ``file``, a key naming a section holds that section's fields; any other key is a field of
    the ``default`` section. A run's ``config.json`` (it has a ``"kind"``) is accepted: its
    bookkeeping keys (seeds, versions, the runs it started from) are skipped. An override path
    starts with a section name (``scenario.rounds=7``) or is a field path of the default
    section (``collect.envs=16``). Returns the updated sections; errors are one-line
    ``ValueError``\\ s naming the file or the override.
    """
    names = dict(aliases or {}, **{s: s for s in sections})
    out = dict(sections)
    for key, value in (file or {}).items():
        if key in names:
            if not isinstance(value, dict):
                raise ValueError(f"{source}: section {key!r} must be a mapping of fields")
            out[names[key]] = _replace_in(out[names[key]], value, f"{source}: {key}")
        elif _has_field(out[default], next(iter(renamed(type(out[default]), {key: None})))):
            out[default] = _replace_in(out[default], {key: value}, source)
        elif "kind" not in (file or {}):
            raise ValueError(f"{source}: unknown section or field {key!r} (sections: "
                             f"{', '.join(sections)}; or a field of {default})")
    for item in sets:
        path, eq, text = item.partition("=")
        if not eq or not path:
            raise ValueError(f"--set {item!r}: expected PATH=VALUE")
        head, _, rest = path.partition(".")
        value = parse_value(text)
        section, field = (names[head], rest) if head in names and rest else (default, path)
        try:
            out[section] = set_path(out[section], field, value)
        except ValueError as err:
            raise ValueError(f"--set {item}: {err}") from None
    return out


def _has_field(cfg: Any, name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(cfg))


def _replace_in(cfg: T, fields: dict[str, Any], where: str) -> T:
    try:
        return replace(cfg, **fields)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {err}") from None
