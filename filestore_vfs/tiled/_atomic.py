"""All of a run in the catalog, or none of it: a TiledWriter that removes what it half wrote.

``TiledWriter`` registers a run piece by piece as the documents arrive: the run's container
at ``start``, streams at ``descriptor``, data sources at ``stream_resource``, rows as events
come. If the catalog fails in between (its database stopped, the server gone), the catalog
keeps a run that looks real but ends early, and later readers cannot tell. An
:class:`AtomicRunWriter` forwards every document to a ``TiledWriter``; when one fails it
removes the run's partial entry (:func:`remove_partial_run`) and raises
:class:`RunNotRegisteredError`, saying what happened and what to do. When the catalog is
still unreachable, the removal is retried before the next run is written (and by
:meth:`AtomicRunWriter.cleanup`).

It follows one run at a time, as the RunEngine emits them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..vfs import VFSError

__all__ = ["AtomicRunWriter", "RunNotRegisteredError", "remove_partial_run"]


class RunNotRegisteredError(VFSError, RuntimeError):
    """A run could not be stored in the catalog; its partial entry is gone or named.

    ``uid`` is the run's start uid, ``cause`` the error that stopped the write and
    ``removed`` whether the partial entry is already removed (else ``pending`` says why not;
    the writer removes it before its next run, or call :func:`remove_partial_run`).
    """

    def __init__(self, uid: str, cause: BaseException, removed: bool, pending: str = "") -> None:
        self.uid, self.cause, self.removed, self.pending = uid, cause, removed, pending
        what = f"run {uid} was not registered in the catalog: writing it failed ({_brief(cause)})"
        if removed:
            todo = "its partial entry was removed, so no reader sees half a run"
        else:
            todo = (
                f"its partial entry could not be removed yet ({pending}); the writer removes "
                "it before its next run, or call filestore_vfs.tiled.remove_partial_run("
                f"client, {uid!r}) once the catalog answers"
            )
        super().__init__(
            f"{what}; {todo}. The data files are untouched: write the run's documents again "
            "(e.g. from TiledWriter's backup_directory) when the catalog and its database "
            "answer."
        )


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def remove_partial_run(client: Any, uid: str) -> bool:
    """Remove the run ``uid`` (its streams, tables and data-source records) from the catalog
    ``client``; True if it was there. Data files are not touched (tiled never deletes
    external assets)."""
    if uid not in client:
        return False
    client.delete_contents(uid, recursive=True, external_only=False)
    return True


def _default_writer(client: Any, **kwargs: Any) -> Callable[[str, dict[str, Any]], Any]:
    from bluesky_tiled_plugins import TiledWriter

    return TiledWriter(client, **kwargs)  # type: ignore[no-any-return]


class AtomicRunWriter:
    """A ``TiledWriter(client, **kwargs)`` that leaves complete runs or none in the catalog.

    Subscribe it where the ``TiledWriter`` was (``RE.subscribe(AtomicRunWriter(client))``).
    When a document fails to be written, the run's partial entry is removed and
    :class:`RunNotRegisteredError` is raised once; the run's later documents are dropped and
    the next run gets a fresh ``TiledWriter``. ``writer`` builds the wrapped writer from
    ``(client, **kwargs)`` (bluesky-tiled-plugins' ``TiledWriter`` by default).
    """

    def __init__(
        self,
        client: Any,
        *,
        writer: Callable[..., Callable[[str, dict[str, Any]], Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.client = client
        self._make = lambda: (writer or _default_writer)(client, **kwargs)
        self._writer: Callable[[str, dict[str, Any]], Any] | None = None
        self._uid: str | None = None
        self._failed: str | None = None
        #: uids of partial runs still to be removed (the catalog did not answer)
        self.pending: list[str] = []

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.cleanup()
            self._uid, self._failed = doc["uid"], None
        if self._failed is not None and self._failed == self._uid:
            return  # the rest of a run that was not registered
        try:
            if self._writer is None:  # made here: making it asks the catalog
                self._writer = self._make()
            self._writer(name, doc)
        except Exception as exc:
            self._fail(exc)

    def cleanup(self) -> list[str]:
        """Remove the partial runs left when the catalog did not answer; returns those still
        pending (the catalog still failing)."""
        for uid in list(self.pending):
            try:
                remove_partial_run(self.client, uid)
            except Exception:  # still unreachable: keep it for the next attempt
                continue
            self.pending.remove(uid)
        return list(self.pending)

    def _fail(self, exc: Exception) -> None:
        uid = self._uid or "<no start document>"
        self._failed = self._uid
        self._writer = None  # TiledWriter keeps per-run state: the next run gets a new one
        try:
            if self._uid is not None:
                remove_partial_run(self.client, self._uid)
        except Exception as cleanup_exc:
            self.pending.append(uid)
            raise RunNotRegisteredError(uid, exc, False, _brief(cleanup_exc)) from exc
        raise RunNotRegisteredError(uid, exc, True) from exc
