"""A tiled ``app_factory`` that answers a refused data URI with ``403`` and the reason.

Two checks refuse to serve a run's asset: ours (:class:`RefusedURIError`, already an HTTP 403
exception) and tiled's own ``readable_storage`` check, which raises a bare ``RuntimeError``
that tiled turns into ``500 Internal server error``. A client cannot tell that 500 from a
crash, and tiled's client retries a 5xx for up to ``TILED_RETRY_TIMEOUT`` seconds before
giving up. :func:`app_factory` runs tiled's own factory and adds one exception handler, so
both refusals reach the client at once as ``403 Forbidden`` with the reason; every other
error keeps tiled's handling.

Run it in place of tiled's factory under a process manager::

    TILED_CONFIG=config.yml uvicorn --factory filestore_vfs.tiled:app_factory --workers 4
"""

from __future__ import annotations

from typing import Any

from ._resolve import RefusedURIError

__all__ = ["app_factory", "install_refusal_handler", "is_storage_refusal"]

#: How tiled's ``readable_storage`` check words its refusal (a ``RuntimeError``).
_TILED_REFUSAL = ("Refusing to serve", "outside the readable storage area")


def is_storage_refusal(exc: BaseException) -> bool:
    """True when ``exc`` is a refusal to serve a data URI outside the server's storage.

    That is our :class:`RefusedURIError` (the URI leaves the VFS roots or names none) or
    tiled's ``readable_storage`` refusal, which tiled raises as a plain ``RuntimeError`` and
    only its message distinguishes.
    """
    if isinstance(exc, RefusedURIError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and all(part in text for part in _TILED_REFUSAL)


def install_refusal_handler(app: Any) -> Any:
    """Answer storage refusals raised while serving ``app`` with 403 and their reason.

    Other ``RuntimeError`` s are raised on, to tiled's own handler (500); returns ``app``.
    """
    from fastapi.responses import JSONResponse

    async def refusal_handler(request: Any, exc: Exception) -> Any:
        if not is_storage_refusal(exc):
            raise exc
        return JSONResponse(status_code=403, content={"detail": str(exc)})

    app.add_exception_handler(RuntimeError, refusal_handler)
    return app


def app_factory() -> Any:
    """tiled's ``app_factory`` (``TILED_CONFIG``), with refusals answered as 403."""
    from tiled.server.app import app_factory as tiled_app_factory

    return install_refusal_handler(tiled_app_factory())
