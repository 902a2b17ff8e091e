"""All of a run in the catalog, or none of it: a TiledWriter that removes what it half wrote.

``TiledWriter`` registers a run piece by piece as the documents arrive: the run's container
at ``start``, streams at ``descriptor``, data sources at ``stream_resource``, rows as events
come. If the catalog fails in between (its database stopped, the server gone), the catalog
keeps a run that looks real but ends early, and later readers cannot tell. An
:class:`AtomicRunWriter` forwards every document to a ``TiledWriter``; when one fails it
removes the run's partial entry (:func:`remove_partial_run`) and raises
:class:`RunNotRegisteredError`, saying what happened and what to do. When the catalog is
still unreachable, the removal is retried before the next run is written (and by
:meth:`AtomicRunWriter.cleanup`). The failed run's documents are kept, so
:meth:`AtomicRunWriter.retry` writes it again once the catalog answers.

It follows one run at a time, as the RunEngine emits them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..vfs import VFSError

__all__ = ["AtomicRunWriter", "RunNotRegisteredError", "remove_partial_run"]

Docs = list[tuple[str, dict[str, Any]]]
_CLEANUP_POLL = 1.0  # seconds between removal attempts in AtomicRunWriter.cleanup(timeout)


class RunNotRegisteredError(VFSError, RuntimeError):
    """A run could not be stored in the catalog; its partial entry is gone or named.

    ``uid`` is the run's start uid, ``cause`` the error that stopped the write and
    ``removed`` whether the partial entry is already removed (else ``pending`` says why not;
    the writer removes it before its next run or in :meth:`AtomicRunWriter.retry`, or call
    :func:`remove_partial_run`).
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
            f"{what}; {todo}. The data files are untouched and the writer keeps the run's "
            "documents: once the cause is fixed (for a catalog or database that did not "
            f"answer, once it answers again), call AtomicRunWriter.retry({uid!r})."
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
    try:
        client.delete_contents(uid, recursive=True, external_only=False)
    except Exception:
        # A DELETE that the server carried out but answered with an error (a 500 while its
        # database reconnects) is retried by tiled's client and then finds nothing (404).
        if uid in client:
            raise
    return True


def _default_writer(client: Any, **kwargs: Any) -> Callable[[str, dict[str, Any]], Any]:
    from bluesky_tiled_plugins import TiledWriter

    return TiledWriter(client, **kwargs)  # type: ignore[no-any-return]


class AtomicRunWriter:
    """A ``TiledWriter(client, **kwargs)`` that leaves complete runs or none in the catalog.

    Subscribe it where the ``TiledWriter`` was (``RE.subscribe(AtomicRunWriter(client))``).
    When a document fails to be written, the run's partial entry is removed and
    :class:`RunNotRegisteredError` is raised once; the run's later documents are not sent to
    the catalog but kept with the others in ``failed[uid]``, for :meth:`retry` once the
    cause is fixed. The next run gets a fresh ``TiledWriter``. ``writer`` builds the wrapped
    writer from ``(client, **kwargs)`` (bluesky-tiled-plugins' ``TiledWriter`` by default).

    TiledWriter's ``backup_directory``/``backup_dictionary`` are refused: with them
    TiledWriter swallows the failure this writer must see (``failed`` keeps the documents
    instead).
    """

    def __init__(
        self,
        client: Any,
        *,
        writer: Callable[..., Callable[[str, dict[str, Any]], Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        for name in ("backup_directory", "backup_dictionary"):
            if kwargs.get(name) is not None:
                raise TypeError(
                    f"AtomicRunWriter does not take {name}=: with it TiledWriter hides the "
                    "failures that AtomicRunWriter must see to remove a partial run; a failed "
                    "run's documents are kept in AtomicRunWriter.failed for retry() instead"
                )
        self.client = client
        self._make = lambda: (writer or _default_writer)(client, **kwargs)
        self._writer: Callable[[str, dict[str, Any]], Any] | None = None
        self._uid: str | None = None
        self._docs: Docs = []
        #: the documents of each run that was not registered, by uid, for :meth:`retry`
        self.failed: dict[str, Docs] = {}
        #: uids of partial runs still to be removed (the catalog did not answer)
        self.pending: list[str] = []
        #: why each pending run could not be removed yet (the last attempt's error)
        self.errors: dict[str, str] = {}

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.cleanup()
            self._uid, self._docs = doc["uid"], []
        self._docs.append((name, doc))
        if self._uid in self.failed:
            return  # the rest of a run that was not registered: kept, not sent
        try:
            if self._writer is None:  # made here: making it asks the catalog
                self._writer = self._make()
            self._writer(name, doc)
        except Exception as exc:
            self._fail(exc)

    def retry(self, uid: str, timeout: float = 0.0) -> None:
        """Write the failed run ``uid`` again from its kept documents, after removing what is
        left of it (:meth:`cleanup` with ``timeout``). Raises :class:`RunNotRegisteredError`
        again if it fails again; the documents stay kept until it succeeds."""
        docs = self.failed[uid]
        if uid in self.cleanup(timeout):
            raise RunNotRegisteredError(uid, RuntimeError("not retried"), False, self.errors[uid])
        del self.failed[uid]
        for name, doc in docs:
            self(name, doc)

    def cleanup(self, timeout: float = 0.0) -> list[str]:
        """Remove the partial runs left when the catalog did not answer; returns those still
        pending (``errors`` says why).

        ``timeout``: keep trying that many seconds. A tiled server whose database has just
        restarted answers 500 until its pooled connections to the old database are replaced,
        more requests than its client retries in one call.
        """
        deadline = time.monotonic() + timeout
        while True:
            for uid in list(self.pending):
                try:
                    remove_partial_run(self.client, uid)
                except Exception as exc:  # still failing: keep it for the next attempt
                    self.errors[uid] = _brief(exc)
                    continue
                self.pending.remove(uid)
                self.errors.pop(uid, None)
            if not self.pending or time.monotonic() >= deadline:
                return list(self.pending)
            time.sleep(_CLEANUP_POLL)

    def _fail(self, exc: Exception) -> None:
        uid = self._uid or "<no start document>"
        self.failed[uid] = self._docs  # later documents of the run are appended to it
        self._writer = None  # TiledWriter keeps per-run state: the next run gets a new one
        try:
            if self._uid is not None:
                remove_partial_run(self.client, self._uid)
        except Exception as cleanup_exc:
            self.pending.append(uid)
            self.errors[uid] = _brief(cleanup_exc)
            raise RunNotRegisteredError(uid, exc, False, _brief(cleanup_exc)) from exc
        raise RunNotRegisteredError(uid, exc, True) from exc
