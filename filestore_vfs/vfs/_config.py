"""Configuration: YAML text, files or mappings to root objects, with errors that say where.

Accepted shapes (pyobs' ``vfs:`` block loads unchanged)::

    vfs:                                   # optional top-level key
      class: pyobs.vfs.VirtualFileSystem   # optional, ignored
      defaults: true                       # keep /local, /temp, /memory (default: true)
      legacy_paths: [/nsls2/data/assets]   # plain paths readers may open (default: none)
      roots:
        detector:
          class: LocalFile                 # or pyobs.vfs.LocalFile
          root: /data/assets
          writer_root: 'D:\\assets'

String option values may use ``${NAME}`` to take a value (a password, say) from the
environment, so secrets need not be written into the file. Every option value is then
coerced to the type the root class declares (``"false"`` is ``False`` for a ``bool``) and
checked against its range, by :mod:`._options`.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ._errors import ConfigError, InvalidPathError
from ._options import coerce_bool, coerce_options
from ._paths import LEGACY_PATHS_KEY, check_root_name
from ._registry import get_root_class
from ._root import Root

__all__ = [
    "ParsedConfig",
    "build_root",
    "check_legacy_paths",
    "default_root_specs",
    "load_config_source",
    "parse_config",
]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def default_root_specs() -> dict[str, dict[str, Any]]:
    """The embedded default roots: ``/local``, ``/temp`` and ``/memory``."""
    data = os.environ.get("FILESTORE_VFS_DATA")
    if not data:
        import platformdirs

        data = platformdirs.user_data_dir("filestore-vfs", appauthor=False)
    return {
        "local": {"class": "LocalFile", "root": data},
        "memory": {"class": "MemoryFile"},
        "temp": {"class": "TempFile"},
    }


def load_config_source(source: str | os.PathLike[str]) -> tuple[Any, str]:
    """Parse YAML from a file path or from text; return the data and where it came from."""
    if _looks_like_path(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError(f"no VFS config file at {str(path)!r}")
        text, origin = path.read_text(encoding="utf-8"), str(path)
    else:
        text, origin = str(source), "<yaml text>"
    try:
        return yaml.safe_load(text), origin
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{origin}, line {mark.line + 1}, column {mark.column + 1}" if mark else origin
        raise ConfigError(f"malformed YAML in {where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML in {origin}: {exc}") from None


def _looks_like_path(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    one_line = "\n" not in source
    return one_line and (":" not in source or Path(source).expanduser().is_file())


class ParsedConfig(NamedTuple):
    """A config's roots, whether the default roots are kept, and its ``legacy_paths``."""

    roots: dict[str, Root]
    defaults: bool
    legacy_paths: tuple[str, ...]


def parse_config(data: Any, origin: str = "<config>") -> ParsedConfig:
    """Build the roots of a config mapping; return them, whether defaults are kept, and the
    directories whose plain paths readers may open (``legacy_paths``, default none)."""
    if data is None:
        return ParsedConfig({}, True, ())
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: a VFS config is a mapping with 'roots:', not {data!r:.60}")
    if "vfs" in data:
        data = data["vfs"]
        if not isinstance(data, Mapping):
            raise ConfigError(f"{origin}: 'vfs:' must hold a mapping with 'roots:'")
    unknown = set(data) - {"class", "roots", "defaults", LEGACY_PATHS_KEY}
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key(s) {', '.join(sorted(unknown))} next to 'roots:' "
            f"(allowed: roots, defaults, {LEGACY_PATHS_KEY}, class)"
        )
    cls = data.get("class")
    if cls and not str(cls).endswith("VirtualFileSystem"):
        raise ConfigError(f"{origin}: 'class: {cls}' is not a VirtualFileSystem")
    roots = data.get("roots") or {}
    if not isinstance(roots, Mapping):
        raise ConfigError(f"{origin}: 'roots:' must map root names to their options")
    built = {}
    for name, spec in roots.items():
        root = build_root(str(name), spec, origin)
        built[root.name] = root
    where = f"{origin}: '{LEGACY_PATHS_KEY}:'"
    legacy = check_legacy_paths(_expand(data.get(LEGACY_PATHS_KEY), where), where)
    return ParsedConfig(
        built, coerce_bool(data.get("defaults", True), f"{origin}: 'defaults:'"), legacy
    )


def check_legacy_paths(value: Any, where: str = f"'{LEGACY_PATHS_KEY}'") -> tuple[str, ...]:
    """The ``legacy_paths`` setting checked: a list of absolute directory paths.

    ``None`` (or the key left out) is the empty list: no plain path is read. ``~`` is
    expanded; each entry must then be absolute and hold no NUL byte. Anything else is a
    :class:`ConfigError` naming the setting, the value and what is expected.
    """
    expected = "a list of absolute directory paths (e.g. [/nsls2/data/xf42id/assets])"
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} {value!r:.80} is not {expected}")
    out = []
    for entry in value:
        if isinstance(entry, os.PathLike):
            entry = os.fspath(entry)
        if not isinstance(entry, str) or not entry.strip():
            raise ConfigError(f"{where} entry {entry!r:.80} is not a directory path; {expected}")
        if "\x00" in entry:
            raise ConfigError(f"{where} entry {entry!r:.80} contains a NUL byte")
        path = os.path.expanduser(entry)
        if not os.path.isabs(path):
            raise ConfigError(f"{where} entry {entry!r:.80} is relative; {expected}")
        out.append(os.path.normpath(path))
    return tuple(out)


def build_root(name: str, spec: Any, origin: str = "<config>") -> Root:
    """One root from its options (``class:`` plus the class's keyword arguments)."""
    try:
        bare = check_root_name(name)
    except InvalidPathError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    if isinstance(spec, Root):
        return spec.bind(bare)
    if not isinstance(spec, Mapping) or "class" not in spec:
        raise ConfigError(
            f"{origin}: root '{bare}' needs a mapping with 'class:' "
            "(e.g. {class: LocalFile, root: /data})"
        )
    options = {k: _expand(v, f"{origin}: root '{bare}' option {k!r}") for k, v in spec.items()}
    cls = get_root_class(str(options.pop("class")))
    where = f"{origin}: root '{bare}' ({cls.__name__})"
    _check_options(cls, options, where)
    options = coerce_options(cls, options, where)
    try:
        root = cls(**options)
    except (ConfigError, InvalidPathError) as exc:
        raise ConfigError(f"{origin}: root '{bare}' ({cls.__name__}): {exc}") from None
    return root.bind(bare)


def _check_options(cls: type[Root], options: Mapping[str, Any], where: str) -> None:
    accepted, required = _signature(cls)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(
            f"{where}: unknown option(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(accepted))}"
        )
    missing = sorted(required - set(options))
    if missing:
        raise ConfigError(f"{where}: missing required option(s) {', '.join(missing)}")


def _signature(cls: type[Root]) -> tuple[set[str], set[str]]:
    """Keyword options a root class accepts, following ``**common`` up the MRO."""
    accepted: set[str] = set()
    required: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        passes_on = False
        for param in list(inspect.signature(init).parameters.values())[1:]:
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                passes_on = True
            elif param.kind is not inspect.Parameter.VAR_POSITIONAL:
                # the class nearest in the MRO decides whether an option has a default
                if param.default is inspect.Parameter.empty and param.name not in accepted:
                    required.add(param.name)
                accepted.add(param.name)
        if not passes_on:
            break
    return accepted, required


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: _env(m.group(1), where), value)
    if isinstance(value, Mapping):
        return {k: _expand(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, where) for v in value]
    return value


def _env(name: str, where: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise ConfigError(f"{where} refers to ${{{name}}}, which is not set") from None
