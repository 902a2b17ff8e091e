"""Logical paths: ``/<root>/<relative POSIX path>``, checked once, at the boundary.

A logical path is absolute and already normal. Rather than normalising ``a/../b`` (which
hides an attempt to leave a root), anything that is not already normal is refused with
:class:`PathEscapeError`. ``vfs://<root>/<path>`` URLs are accepted everywhere a logical
path is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from typing import NamedTuple
from urllib.parse import unquote

from ._errors import InvalidPathError, PathEscapeError, UnknownRootError

__all__ = [
    "LogicalPath",
    "URITarget",
    "split_logical",
    "join_logical",
    "check_root_name",
    "logical_from_uri",
    "check_legacy_path",
    "LEGACY_PATHS_KEY",
    "URL_PREFIX",
]

URL_PREFIX = "vfs://"
_ROOT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
#: Names of the hidden files the VFS uses for atomic writes and locks.
INTERNAL_PREFIX = ".~vfs-"
#: The config key (next to ``roots:``) listing the directories whose plain paths readers open.
LEGACY_PATHS_KEY = "legacy_paths"


class LogicalPath(NamedTuple):
    """A checked logical path: the root name and the relative POSIX path ('' for the root)."""

    root: str
    rel: str

    def __str__(self) -> str:
        return join_logical(self.root, self.rel)


def check_root_name(name: str) -> str:
    """Return ``name`` without a leading '/', or raise if it cannot name a root."""
    bare = name[1:] if name.startswith("/") else name
    if not _ROOT_NAME.match(bare):
        raise InvalidPathError(
            f"{name!r} cannot name a root: use letters, digits, '_', '.', '-' "
            "and no '/' (e.g. 'detector')"
        )
    return bare


def join_logical(root: str, rel: str) -> str:
    """The logical path of ``rel`` under ``root``."""
    return f"/{root}/{rel}" if rel else f"/{root}"


def _check_encodable(path: object, text: str) -> None:
    """A lone surrogate (``'\\udc80'``, from undecodable bytes) names no file any backend can
    store: refuse it here rather than let an encoder fail half-way through an operation."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPathError(
            f"{path!r} is not valid Unicode (it holds a lone surrogate, "
            f"{exc.object[exc.start]!r}); logical paths are UTF-8 text"
        ) from None


def split_logical(path: object) -> LogicalPath:
    """Check a logical path (or ``vfs://`` URL) and split it into root and relative path.

    A single trailing '/' is allowed (directories). Raises :class:`InvalidPathError` for
    non-strings and relative paths and :class:`PathEscapeError` for ``..``, ``.``, empty
    components (``//``), NUL bytes and backslashes.
    """
    if not isinstance(path, str):
        if hasattr(path, "__fspath__"):
            path = path.__fspath__()  # type: ignore[union-attr]
        if not isinstance(path, str):
            raise InvalidPathError(f"a logical path must be a str, not {type(path).__name__}")
    text = path
    if text.startswith(URL_PREFIX):
        text = "/" + text[len(URL_PREFIX) :]
    if not text.startswith("/") or text == "/":
        raise InvalidPathError(
            f"{path!r} is not a logical path: it must start with '/<root>/', "
            "e.g. '/local/data/x.h5' (relative paths are not resolved against a directory)"
        )
    _check_encodable(path, text)
    if "\\" in text or "\x00" in text:
        what = "a backslash" if "\\" in text else "a NUL byte"
        raise PathEscapeError(f"{path!r} contains {what}; logical paths are POSIX, use '/'")
    if text.endswith("/") and len(text) > 2:
        text = text[:-1]
    parts = text[1:].split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise PathEscapeError(
                f"{path!r} is not normal ({part or 'empty'!r} component): "
                "'..', '.' and '//' are refused so no path can leave its root"
            )
    return LogicalPath(parts[0], "/".join(parts[1:]))


# -- URIs ---------------------------------------------------------------------------------
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")
_FILE_HOSTS = ("", "localhost")
#: How many times a component is percent-decoded when looking for a hidden escape.
_DECODE_DEPTH = 4


class URITarget(NamedTuple):
    """Where a URI or document path leads: exactly one of ``logical`` and ``plain`` is set.

    ``logical`` is the checked logical path (read through the VFS); ``plain`` is a path on
    this machine's file system that names no root (read as it is).
    """

    logical: LogicalPath | None
    plain: str | None


def logical_from_uri(
    uri: str | os.PathLike[str],
    roots: Collection[str],
    *,
    plain_paths: bool = True,
    plain_top_check: bool = False,
    legacy_paths: Sequence[str] | None = None,
) -> URITarget:
    """Turn a ``vfs://`` or ``file:`` URI, or a document's path, into a logical or plain path.

    The one parser every reader uses (handlers, tiled adapters, ``check``). ``roots`` are the
    names of the configured roots. The rules:

    ``vfs://<root>/<rel>``
        Always logical. Checked like any logical path (:func:`split_logical`: ``..``, ``.``,
        ``//``, NUL and backslash raise :class:`PathEscapeError`; trailing ``/`` are allowed);
        a root not in ``roots`` raises :class:`UnknownRootError`.
    ``file:`` URIs (``file:///p``, ``file://localhost/p``, ``file:/p``)
        The host must be empty or ``localhost``, else :class:`InvalidPathError` (another
        machine's file). The path must be absolute. When its first component names a root it
        is logical (TiledWriter writes ``file://localhost/detector/...`` for a Resource whose
        root is ``/detector``), checked like ``vfs://``. Otherwise it is plain, and still may
        not contain ``..`` or ``.`` components, NUL bytes or backslashes
        (:class:`PathEscapeError`).
    any other ``<scheme>://`` URI
        :class:`InvalidPathError`.
    a path without a scheme
        With ``plain_paths=False``, :class:`InvalidPathError` (only URIs are accepted).
        An absolute path whose first component names a root is logical and checked like a
        logical path. Anything else is a plain path, returned unchanged (a legacy document's
        file; such paths are not ours to normalise: a Windows path has backslashes).

    Percent-escapes are not decoded (our ``vfs://`` URIs, TiledWriter's ``file://`` URIs and
    tiled's own ``path_from_uri`` all keep names as they are), so ``%41`` is three characters
    of a name. But a component that *would* decode (once or repeatedly, as a web server, a
    proxy or another tool may) to ``..``, ``.``, or to something containing ``/``, ``\\`` or
    a NUL byte, e.g. ``%2e%2e`` or ``%252e%252e``, is refused with :class:`PathEscapeError`,
    in logical and in plain ``file:`` paths alike.

    With ``plain_top_check=True`` (readers that open plain paths here: the handlers and
    ``check``), an absolute plain path whose top-level directory does not exist on this
    machine is taken to name a root this VFS lacks and raises :class:`UnknownRootError`,
    so a missing root is reported as such rather than as a missing file.

    With ``legacy_paths`` (a reader's :attr:`VirtualFileSystem.legacy_paths`; the handlers,
    the tiled adapters and ``check`` pass it), a plain path, from a ``file:`` URI or not,
    must also pass :func:`check_legacy_path`: absolute, no ``..``, and really (symlinks
    resolved) under one of those directories, else :class:`PathEscapeError`. ``plain`` is
    then the real path that was checked, so the file opened is the file allowed. An empty
    sequence refuses every plain path; ``None`` (the default) leaves them unchecked, for
    callers that only parse.

    Every "root not configured" outcome is an :class:`UnknownRootError` (``.root``,
    ``.known``, ``.path``); every escape a :class:`PathEscapeError`.
    """
    text = os.fspath(uri)
    if not isinstance(text, str):
        raise InvalidPathError(f"a path or URI must be a str, not {type(text).__name__}")
    scheme = _SCHEME.match(text)
    if text.startswith(URL_PREFIX):
        return URITarget(_checked_logical(text, text, roots), None)
    if scheme is not None and scheme.group(1).lower() == "file":
        path = _file_uri_path(text)
        if _first_component(path) in roots:
            return URITarget(_checked_logical(path, text, roots), None)
        _refuse_plain_escapes(path, text)
        return URITarget(None, _plain(path, text, roots, plain_top_check, legacy_paths))
    if scheme is not None and text[scheme.end() :].startswith("//"):
        raise InvalidPathError(
            f"{text!r}: scheme {scheme.group(1)!r} is not read here (use vfs:// or file://)"
        )
    if not plain_paths:
        raise InvalidPathError(f"{text!r} is not a vfs:// or file:// URI")
    if text.startswith("/") and _first_component(text) in roots:
        return URITarget(_checked_logical(text, text, roots), None)
    return URITarget(None, _plain(text, text, roots, plain_top_check, legacy_paths))


def _first_component(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def _file_uri_path(uri: str) -> str:
    rest = uri[len("file:") :]
    if rest.startswith("//"):
        host, slash, path = rest[2:].partition("/")
        if host.lower() not in _FILE_HOSTS:
            raise InvalidPathError(f"{uri!r}: host {host!r} is not this machine")
        rest = slash + path
    if not rest.startswith("/"):
        raise InvalidPathError(f"{uri!r}: a file: URI needs an absolute path")
    return rest


def _checked_logical(path: str, given: str, roots: Collection[str]) -> LogicalPath:
    # a directory's trailing '/'s: one is left, which split_logical allows
    while path.endswith("//") and not path.endswith("://"):
        path = path[:-1]
    lp = split_logical(path)
    _refuse_encoded_escapes([lp.root, *lp.rel.split("/")], given)
    if lp.root not in roots:
        raise UnknownRootError(lp.root, roots, given)
    return lp


def _refuse_plain_escapes(path: str, given: str) -> None:
    if "\\" in path or "\x00" in path:
        what = "a backslash" if "\\" in path else "a NUL byte"
        raise PathEscapeError(f"{given!r} contains {what}; file: URIs are POSIX, use '/'")
    parts = path.split("/")
    for part in parts:
        if part in (".", ".."):
            raise PathEscapeError(f"{given!r}: '..' and '.' components are refused")
    _refuse_encoded_escapes(parts, given)


def _refuse_encoded_escapes(parts: list[str], given: str) -> None:
    for part in parts:
        decoded = part
        for _ in range(_DECODE_DEPTH):
            if "%" not in decoded:
                break
            decoded = unquote(decoded)
            if decoded in (".", "..") or any(c in decoded for c in "/\\\x00"):
                raise PathEscapeError(
                    f"{given!r}: component {part!r} is a percent-encoded escape "
                    f"({decoded!r}); encoded '..', '.', '/', '\\' and NUL are refused"
                )


def _plain(
    path: str,
    given: str,
    roots: Collection[str],
    top_check: bool,
    legacy_paths: Sequence[str] | None,
) -> str:
    if top_check and path.startswith("/"):
        top = _first_component(path)
        if top and not os.path.lexists("/" + top):
            raise UnknownRootError(top, roots, given)
    if legacy_paths is None:
        return path
    return check_legacy_path(path, legacy_paths, given)


# -- plain filesystem paths of legacy documents ---------------------------------------------
def check_legacy_path(path: str, legacy_paths: Sequence[str], given: str | None = None) -> str:
    """The real path of ``path``, a plain filesystem path, if a reader may open it.

    A document's plain path (one that names no root) is read only when it is absolute, has
    no ``..`` component and, with every symlink resolved (:func:`os.path.realpath`), lies in
    one of the directories ``legacy_paths`` lists (the reader's VFS config, key
    ``legacy_paths:``; each also resolved). Anything else raises :class:`PathEscapeError`
    (a ``PermissionError``) naming the path and the setting; an empty ``legacy_paths``
    refuses every plain path, which is the default. ``given`` is the path as the document
    gave it (a ``file:`` URI, say), for the message.
    """
    shown = repr(given if given is not None else path)
    if "\x00" in path:
        raise PathEscapeError(f"{shown} contains a NUL byte; plain paths are not read with one")
    if not legacy_paths:
        raise PathEscapeError(
            f"plain filesystem path {shown} is not read: this VFS config lists no "
            f"'{LEGACY_PATHS_KEY}', so documents may name files only by root (logical "
            f"paths, vfs:// URLs); to read legacy data by plain path, list its directory "
            f"under '{LEGACY_PATHS_KEY}:' next to 'roots:' in the VFS config"
        )
    listed = ", ".join(legacy_paths)
    if not os.path.isabs(path):
        raise PathEscapeError(
            f"plain filesystem path {shown} is relative; plain paths are read "
            f"only when absolute and under a directory of '{LEGACY_PATHS_KEY}' ({listed})"
        )
    separators = {"/", os.sep, os.altsep or "/"}
    parts = re.split("|".join(re.escape(s) for s in separators), path)
    if ".." in parts:
        raise PathEscapeError(
            f"plain filesystem path {shown} has a '..' component; plain paths "
            f"are read only under a directory of '{LEGACY_PATHS_KEY}' ({listed}), without '..'"
        )
    real = os.path.realpath(path)
    for directory in legacy_paths:
        top = os.path.realpath(directory)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            return real
    really = f" (really {real!r}, symlinks resolved)" if real != os.path.normpath(path) else ""
    raise PathEscapeError(
        f"plain filesystem path {shown}{really} is under no directory of "
        f"'{LEGACY_PATHS_KEY}' ({listed}); if its documents may be read on this machine, "
        f"add its directory to '{LEGACY_PATHS_KEY}:' in the VFS config"
    )
