"""Secrets out of every log record and every error: one redactor for the whole process.

Each root registers its secrets (:attr:`Root.secrets <filestore_vfs.Root.secrets>`) here
when it is made; every network root, and every root with a secret, also installs
:func:`protect_logs`. From then on every :class:`logging.LogRecord` the process makes
passes through :func:`scrub_record` when it is *created*, whichever library and logger made
it and whichever handler will emit it:

* each registered secret, and the forms a library may send or print it in (URL-quoted,
  base64, escaped as in a ``repr``), becomes ``***``;
* values that look secret whatever their source become ``***`` too: the ``Authorization``
  family of headers (``Basic``, ``Bearer``, AWS4 and Azure ``SharedKey`` signatures),
  ``x-amz-security-token``, SAS signatures (``sig=``), connection-string fields
  (``AccountKey=``, ``SharedAccessSignature=``), ``x-ms-*`` headers other than a few
  harmless ones (versions, dates, request ids), option-like ``password=``/``token=``/
  ``secret=``/``...key=`` pairs, and the password of a URL (``scheme://user:***@host``).

Why a record factory and not a :class:`logging.Filter` on the libraries' loggers: a filter
on a logger only sees the records logged on that very logger, not those propagated from its
children (``botocore`` does not see ``botocore.endpoint``'s records), and libraries create
their loggers lazily and by the dozen; a filter on handlers misses every handler attached
after it (pytest's, an application's). The factory sees every record once, at birth, before
any logger, filter or handler. :class:`SecretFilter` does the same on a handler, for a
record made by a ``Logger`` subclass that bypasses the factory.

:func:`scrub_exception` does the same for an error and its whole chain of causes and
contexts (``raise ... from None`` hides a context from tracebacks, but it stays reachable).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "SecretFilter",
    "protect_logs",
    "redact_text",
    "register_secrets",
    "scrub_exception",
    "scrub_record",
]

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()
#: every registered secret and its encoded forms, longest first, as one alternation
_secret_re: re.Pattern[str] | None = None

#: Field names whose value is secret wherever they appear as ``name: value``/``name=value``
#: (searched inside the name: ``x-amz-security-token``, ``AccountKey``, ``sas_token``, ...).
_SECRET_NAME = re.compile(
    r"(?i)password|passwd|passphrase|secret|token|api[-_]?key|access[-_]?key|account[-_]?key"
    r"|private[-_]?key|shared[-_]?key|encryption[-_]?key|signature|credential|authorization"
    r"|cookie|sas"
)
#: ``name`` + separator: a whole word (never backtracked into, so the scan stays linear),
#: maybe a closing quote (``'name': ...``), then ``:`` or ``=``.
_FIELD = re.compile(r"(?<![\w.-])(?P<name>[\w.-]++)(?P<sep>['\"]?\s*+[:=]\s*+)")
#: The value after a secret name: quoted (``b'...'`` too), an authorization scheme and its
#: parameters (to the end of the line), or a bare run (a header line, a query or connection
#: string field).
_VALUE = re.compile(
    r"(?P<prefix>b?)(?P<q>['\"])(?:\\.|(?!(?P=q))[^\\])*+(?P=q)"
    r"|(?i:Basic|Bearer|Digest|Negotiate|NTLM|SharedKey(?:Lite)?|SharedAccessSignature"
    r"|AWS4-HMAC-SHA256|AWS|Token)\s[^\r\n'\"]*+"
    r"|[^\s&;,'\"<>)\]}]++"
)
#: An opening quote that is never closed: mask to the end of the line.
_UNCLOSED = re.compile(r"b?['\"][^\r\n]*+")
#: ``scheme://user:password@host``
_USERINFO = re.compile(r"(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^/\s:@'\"]*+:)[^@\s/'\"]++@")
#: ``x-ms-*`` headers whose values say nothing secret (kept for debugging)
_HARMLESS_X_MS = frozenset(
    {
        "x-ms-version",
        "x-ms-date",
        "x-ms-client-request-id",
        "x-ms-request-id",
        "x-ms-return-client-request-id",
        "x-ms-blob-type",
        "x-ms-error-code",
        "x-ms-range",
        "x-ms-lease-state",
        "x-ms-lease-status",
        "x-ms-lease-duration",
        "x-ms-lease-action",
        "x-ms-server-encrypted",
        "x-ms-request-server-encrypted",
        "x-ms-creation-time",
        "x-ms-content-crc64",
        "x-ms-blob-content-type",
        "x-ms-access-tier",
        "x-ms-delete-snapshots",
    }
)


def _is_secret_name(name: str) -> bool:
    lower = name.lower()
    if lower.startswith("x-ms-"):
        return lower not in _HARMLESS_X_MS
    return lower == "sig" or _SECRET_NAME.search(name) is not None


def _mask_fields(text: str) -> str:
    """Mask the value of every field whose name looks secret (one pass, linear)."""
    out: list[str] = []
    pos = 0
    for field in _FIELD.finditer(text):
        if field.start() < pos or not _is_secret_name(field.group("name")):
            continue
        start = field.end()
        value = _VALUE.match(text, start) or _UNCLOSED.match(text, start)
        if value is None or value.end() == start:
            continue
        out.append(text[pos:start])
        quote_char = value.group("q") if value.re is _VALUE else None
        if quote_char:
            out.append(f"{value.group('prefix')}{quote_char}{MASK}{quote_char}")
        else:
            out.append(MASK)
        pos = value.end()
    out.append(text[pos:])
    return "".join(out)


def _forms(secret: str) -> set[str]:
    """``secret`` and the forms a library may send or print it in."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), repr(secret)[1:-1]}
    forms.add(secret.encode("unicode_escape").decode("ascii", "replace"))
    raw = secret.encode("utf-8", "surrogatepass")
    forms.add(base64.b64encode(raw).decode())
    forms.add(base64.urlsafe_b64encode(raw).decode())
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    return {form for form in forms if form}


def register_secrets(secrets: Iterable[Any]) -> None:
    """Hide these values (and their encoded forms) in every log record and scrubbed error.

    Registration lasts for the life of the process: a secret a closed root used may still
    be printed by a connection it left behind.
    """
    global _secret_re
    new = {str(s) for s in secrets if s is not None and str(s)}
    with _lock:
        if new <= _secrets:
            return
        _secrets.update(new)
        forms = set().union(*(_forms(s) for s in _secrets))
        ordered = sorted(forms, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(form) for form in ordered))


def redact_text(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every registered secret, every ``extra`` one and every secret-looking
    value (see the module's doc) replaced by ``***``."""
    for secret in extra:
        if secret:
            text = text.replace(secret, MASK)
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if ":" not in text and "=" not in text:
        return text  # no header, field or URL password can be in it
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    return _mask_fields(text)


# -- log records ------------------------------------------------------------------------------


def _redacted_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    text = repr(value)
    cleaned = redact_text(text)
    return value if cleaned == text else cleaned


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replace every secret in ``record`` (message, arguments, traceback, stack) with ``***``.

    The message is formatted once here; when it held a secret, the record keeps the
    redacted text as its message and no arguments, so no handler can format the secret
    from them later.
    """
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001  # a bad format: logging reports it, without secrets
        record.msg = redact_text(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redacted_arg(v) for k, v in record.args.items()}
    else:
        cleaned = redact_text(message)
        if cleaned != message or not isinstance(record.msg, str):
            record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact_text(text)
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)
    return record


class SecretFilter(logging.Filter):
    """A filter that scrubs records (:func:`scrub_record`) and lets them all pass.

    :func:`protect_logs` already scrubs every record at creation; attach this to a handler
    only for records made without :func:`logging.getLogRecordFactory` (a ``Logger``
    subclass with its own ``makeRecord``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def protect_logs() -> None:
    """Make every log record of this process pass through :func:`scrub_record` at creation.

    Idempotent; if another library replaced the record factory since, its factory is
    wrapped in turn (so calling this again, as every network root does when it is made,
    repairs the protection).
    """
    with _lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "_filestore_vfs_redacting", False):
            return
        logging.setLogRecordFactory(_redacting(current))


def _redacting(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub_record(previous(*args, **kwargs))

    factory._filestore_vfs_redacting = True  # type: ignore[attr-defined]
    return factory


# -- errors -----------------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """``exc``, its causes and contexts, and the members of exception groups, each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(getattr(current, "exceptions", None) or ())


def _scrubbed(value: Any, extra: tuple[str, ...]) -> Any:
    """``value`` without secrets: of the same type where that can be rebuilt (strings,
    bytes, tuples, named tuples, lists, mappings), else its redacted ``repr``."""
    if isinstance(value, str):
        return redact_text(value, extra)
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        cleaned = redact_text(text, extra)
        return value if cleaned == text else cleaned.encode()
    if value is None or isinstance(value, (int, float, bool, BaseException)):
        return value
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001  # an object that cannot show itself shows no secret
        return value
    if redact_text(text, extra) == text:
        return value
    try:
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return type(value)._make(_scrubbed(v, extra) for v in value)
        if isinstance(value, (tuple, list)):
            return type(value)(_scrubbed(v, extra) for v in value)
        if isinstance(value, Mapping):
            items = {k: _scrubbed(v, extra) for k, v in value.items()}
            try:
                return type(value)(items)
            except Exception:  # noqa: BLE001  # a read-only proxy: a plain dict then
                return items
    except Exception:  # noqa: BLE001  # cannot rebuild it: its redacted repr instead
        pass
    return redact_text(text, extra)


def scrub_exception(exc: BaseException, extra: Iterable[str] = ()) -> BaseException:
    """Remove secrets from ``exc`` and every error along its causes and contexts.

    Message arguments, the ``strerror``/``filename`` of OS errors, notes and other
    attributes are redacted in place (an attribute whose ``repr`` shows a secret becomes
    that ``repr``, redacted). Returns ``exc``.
    """
    extra = tuple(s for s in extra if s)
    for err in _chain(exc):
        try:
            err.args = tuple(_scrubbed(a, extra) for a in err.args)
            if isinstance(err, OSError):
                for attribute in ("strerror", "filename", "filename2"):
                    value = getattr(err, attribute, None)
                    if isinstance(value, str):
                        setattr(err, attribute, redact_text(value, extra))
            notes = getattr(err, "__notes__", None)
            if isinstance(notes, list):
                notes[:] = [_scrubbed(n, extra) for n in notes]
            for name, value in list(vars(err).items()):
                if name != "__notes__":
                    cleaned = _scrubbed(value, extra)
                    if cleaned is not value:
                        setattr(err, name, cleaned)
        except Exception:  # noqa: BLE001, S112  # read-only attributes: scrub what we can
            continue
    return exc
