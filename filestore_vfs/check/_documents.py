"""Reading a run's documents: a JSONL or msgpack file, or a databroker/tiled catalog.

The files are bluesky's suitcase formats: JSONL holds one ``[name, doc]`` JSON array per line
(suitcase-jsonl), msgpack a stream of ``[name, doc]`` arrays (suitcase-msgpack). Errors are
:class:`DocumentsError` with the file and line, so the command line can print one clear line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..vfs import VFSError

__all__ = [
    "ASSET_DOCUMENTS",
    "Document",
    "DocumentsError",
    "documents_from_catalog",
    "read_documents",
]

Document = tuple[str, dict[str, Any]]

#: The document name at the start of a suitcase-jsonl line: ``["event", {...``.
_JSONL_NAME = re.compile(rb'\s*\[\s*"([a-z_]+)"\s*,')
#: The documents ``check`` and ``migrate`` need (never the events).
ASSET_DOCUMENTS = frozenset({"resource", "stream_resource", "datum", "datum_page", "stream_datum"})
_MSGPACK_SUFFIXES = {".msgpack", ".mpk", ".msgp"}
#: First bytes of a msgpack array of two (fixarray) or array16/array32.
_MSGPACK_ARRAY_BYTES = {0x92, 0xDC, 0xDD}


class DocumentsError(VFSError, ValueError):
    """A run file or catalog entry that does not hold bluesky documents."""


def read_documents(
    path: str | os.PathLike[str], names: Collection[str] | None = None
) -> list[Document]:
    """The ``(name, doc)`` pairs of a JSONL or msgpack run file, in order.

    The format is chosen by suffix (``.msgpack``/``.mpk``), else by the first byte, so a
    msgpack file saved as ``run.dat`` still reads. With ``names`` only those documents are
    kept; JSONL lines of other documents (the events: most of a run) are not even parsed.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DocumentsError(f"no run file at {str(file)!r}")
    with open(file, "rb") as f:
        head = f.read(64).lstrip()
    if not head:
        raise DocumentsError(f"{file} is empty: expected bluesky documents (JSONL or msgpack)")
    seen = [0]
    if file.suffix.lower() in _MSGPACK_SUFFIXES or head[0] in _MSGPACK_ARRAY_BYTES:
        docs = list(_read_msgpack(file, names, seen))
    else:
        docs = list(_read_jsonl(file, names, seen))
    if not seen[0]:
        raise DocumentsError(f"{file} holds no documents")
    return docs


def _read_jsonl(file: Path, names: Collection[str] | None, seen: list[int]) -> Iterator[Document]:
    loads = _json_loads()
    with open(file, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            seen[0] += 1
            if names is not None:
                match = _JSONL_NAME.match(line)
                if match and match.group(1).decode() not in names:
                    continue
            try:
                item = loads(line)
            except ValueError as exc:
                raise DocumentsError(
                    f"{file} line {number} is not JSON ({_reason(exc)}); "
                    "expected one [name, doc] array per line (suitcase-jsonl)"
                ) from None
            name, doc = _pair(item, f"{file} line {number}")
            if names is None or name in names:
                yield name, doc


def _json_loads() -> Any:
    """orjson's parser when it is installed (3-4x faster on a run's 20,000 lines)."""
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError) and hasattr(exc, "colno"):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc).split("\n")[0]


def _read_msgpack(file: Path, names: Collection[str] | None, seen: list[int]) -> Iterator[Document]:
    import msgpack

    hook = _msgpack_numpy_hook()
    with open(file, "rb") as f:
        unpacker = msgpack.Unpacker(f, raw=False, strict_map_key=False, object_hook=hook)
        number = 0
        try:
            for item in unpacker:
                number += 1
                seen[0] += 1
                name, doc = _pair(item, f"{file} item {number}")
                if names is None or name in names:
                    yield name, doc
        except (msgpack.UnpackException, ValueError) as exc:
            if isinstance(exc, DocumentsError):
                raise
            raise DocumentsError(
                f"{file} is not a msgpack stream of [name, doc] arrays after item {number}: {exc}"
            ) from None
        if _incomplete(unpacker):  # the Unpacker stops quietly at a cut-off item
            raise DocumentsError(
                f"{file} is not a msgpack stream of [name, doc] arrays after item {number}: "
                "it ends in the middle of a document (truncated?)"
            )


def _incomplete(unpacker: Any) -> bool:
    """Whether bytes of an unfinished item are left after iterating an Unpacker."""
    try:
        return bool(unpacker.read_bytes(1))
    except ValueError:  # "Cannot switch unpacking methods while an object is incomplete"
        return True


def _msgpack_numpy_hook() -> Any:
    """msgpack-numpy's decoder when it is installed (suitcase-msgpack encodes arrays so)."""
    try:
        import msgpack_numpy
    except ImportError:
        return None
    return msgpack_numpy.decode


def _pair(item: Any, where: str) -> Document:
    if (
        isinstance(item, list | tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], dict)
    ):
        return item[0], item[1]
    raise DocumentsError(f"{where} is not a [name, doc] pair: {str(item)[:60]!r}")


def documents_from_catalog(catalog: str | Any, uid: str) -> list[Document]:
    """The documents of run ``uid`` from a tiled server (databroker 2 or a tiled SQL catalog).

    ``catalog`` is a URI (anything tiled's ``from_uri`` opens whose children are the runs,
    e.g. ``http://host:8000/api/v1/metadata/raw``), a tiled profile name, or a tiled client
    node already open. The API key, if the server needs one, comes from ``$TILED_API_KEY``
    (or ``?api_key=`` in the URI), as for every tiled client.
    """
    client = _open_catalog(catalog) if isinstance(catalog, str) else catalog
    try:
        run = client[uid]
    except KeyError:
        raise DocumentsError(f"no run {uid!r} in the catalog {catalog}") from None
    except ValueError as exc:  # databroker: "Partial uid 'x' is too short", ...
        raise DocumentsError(f"no run {uid!r} in the catalog {catalog}: {exc}") from None
    if not hasattr(run, "documents"):
        raise DocumentsError(
            f"catalog entry {uid!r} is a {type(run).__name__}, not a bluesky run "
            "with .documents() (point --catalog at the node holding the runs)"
        )
    return list(_named(run.documents()))


def _open_catalog(catalog: str) -> Any:
    try:
        from tiled.client import from_profile, from_uri
    except ImportError as exc:
        raise DocumentsError(
            "--catalog needs the tiled client: pip install 'tiled[client]'"
        ) from exc
    return from_uri(catalog) if "://" in catalog else from_profile(catalog)


def _named(items: Iterable[Any]) -> Iterator[Document]:
    for number, item in enumerate(items, 1):
        yield _pair(tuple(item), f"catalog document {number}")
