"""softioc records built from the PV table, with readbacks that follow their setpoints.

Every setpoint ``X`` that has an ``X_RBV`` copies each client put to the readback (enums
by index, since AD's strings differ: ``Acquire``/``Acquiring``).  Behaviour code registers
a handler for the PVs it owns; the handler decides what the readback shows.

As in real areaDetector, a client's put completes (``caput -c``, ``wait=True``) only once
the readbacks it changes are current: every output record is *blocking*, so softioc
completes the put after the handler (or the echo) has run in the event loop.  A handler
may return an awaitable to hold the put longer; :meth:`RecordSet.busy` makes a put complete
only when an operation it started is over (AD's busy records: ``Acquire``).

The IOC itself sometimes changes a setpoint (``Acquire`` back to 0, ``FileNumber`` after
an auto-increment).  softioc only posts monitors for such a change when the record is
processed, and processing an output record calls its ``on_update`` again; the pending
internal values are remembered so that this echo is not mistaken for a client put.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import numpy as np

from sim_iocs._pvtable import PVSpec

__all__ = ["Handler", "RecordSet"]

log = logging.getLogger("sim_iocs")

#: A behaviour hook: called in the IOC's event loop with the value a client put.  The put
#: completes when it returns, or when the awaitable it returns is done.
Handler = Callable[[Any], Any]

#: How often per-frame counters (``sync=False``) reach clients during an acquisition.
COUNTER_INTERVAL = 0.02


class RecordSet:
    """All records of one IOC, addressed by their prefix-less names (``"cam1:Acquire"``)."""

    def __init__(self, prefix: str, specs: Iterable[PVSpec]) -> None:
        self.prefix = prefix
        self.specs = {spec.name: spec for spec in specs}
        self.records: dict[str, Any] = {}
        self._handlers: dict[str, Handler] = {}
        self._internal: dict[str, list[Any]] = {}
        self._blocking: set[str] = set()
        self._busy: dict[str, Callable[[], Awaitable[Any] | None]] = {}
        self._dirty: set[str] = set()
        self._flushed = 0.0

    # -- building ---------------------------------------------------------------------
    def on_put(self, name: str, handler: Handler) -> None:
        """Register the behaviour for client puts to ``name`` (before :meth:`build`)."""
        if name not in self.specs:
            raise KeyError(name)
        self._handlers[name] = handler

    def blocking(self, name: str) -> None:
        """Make a CA put with callback to ``name`` complete only after its handler ran.

        Every output record is blocking now (see the module docstring); this marks the
        records whose handler does the whole job before returning, as AD's busy
        ``WriteFile``: ``caput -c`` returns once the file is written.
        """
        self._blocking.add(name)

    def busy(self, name: str, until: Callable[[], Awaitable[Any] | None]) -> None:
        """Make a put with callback to ``name`` complete when ``until()`` is done.

        AD's ``Acquire`` is a busy record: ``caput -c Acquire 1`` returns when the
        acquisition is over.  softioc holds a put only while its record is active, and an
        active record takes no new put (a stop would wait for the end), so the waiting is
        done by a second blocking record, ``<name>Busy``, that ``name`` forward-links to:
        Channel Access completes the put when every record it processed has completed.
        ``until`` is called in the event loop after ``name``'s handler ran; it returns an
        awaitable, or None when there is nothing to wait for.
        """
        if name not in self.specs:
            raise KeyError(name)
        self._busy[name] = until

    def build(self, initial: dict[str, Any]) -> None:
        """Create every record with softioc's builder; call before ``iocInit``."""
        from softioc import builder

        for spec in self.specs.values():
            if spec.kind == "field" or "." in spec.name:
                continue  # e.g. DataType_RBV.DISA: a field of a record that exists anyway
            value = initial.get(spec.name, spec.value)
            extra: dict[str, Any] = {}
            if spec.name in self._busy:
                extra["FLNK"] = self._busy_record(spec.name)
            record = _make_record(builder, spec, value, self._dispatcher(spec), **extra)
            self.records[spec.name] = record

    def add_aliases(self, aliases: Iterable[tuple[str, str]]) -> list[str]:
        """Serve every record of device ``DEVICE`` also as ``<prefix>ALIAS<rest>``.

        EPICS database aliases (after :meth:`build`, before ``iocInit``): a client of the
        alias talks to the very same record, so puts, monitors and behaviour are shared.
        Returns the alias names created.
        """
        created = []
        for device, alias in aliases:
            for name, record in self.records.items():
                if name.startswith(device):
                    full = self.prefix + alias + name[len(device) :]
                    record.add_alias(full)
                    created.append(full)
        return created

    def _busy_record(self, name: str) -> Any:
        """The record that holds a put to ``name`` until the operation it started is over."""
        from softioc import builder

        until = self._busy[name]
        record = builder.boolOut(
            name + "Busy",
            ZNAM="Done",
            ONAM="Busy",
            initial_value=0,
            on_update=lambda _value: until(),
            always_update=True,
            blocking=True,
        )
        self.records[name + "Busy"] = record
        return record

    def _dispatcher(self, spec: PVSpec) -> Handler | None:
        if spec.read_only:
            return None

        def on_update(value: Any, name: str = spec.name) -> Any:
            pending = self._internal.get(name)
            if pending:
                # The echo of our own set(): sets made while the record was still active
                # are merged by EPICS into one processing, so skip to the value it shows.
                for i, internal in enumerate(pending):
                    if _same(internal, value):
                        del pending[: i + 1]
                        return None
            handler = self._handlers.get(name)
            if handler is None:
                self.echo(value, name)
                return None
            return handler(value)

        return on_update

    # -- access -----------------------------------------------------------------------
    def get(self, name: str) -> Any:
        """The current value (enum index for enums, str for strings).

        For a setpoint the IOC set itself this is the value it set, also while the record
        is still active with the previous one (softioc shows a value once processed).
        """
        pending = self._internal.get(name)
        if pending:
            return pending[-1]
        return self.records[name].get()

    def get_str(self, name: str) -> str:
        """An enum's current string."""
        spec = self.specs[name]
        index = int(self.get(name))
        return spec.enum_strs[index] if 0 <= index < len(spec.enum_strs) else str(index)

    def set(self, name: str, value: Any, *, sync: bool = True) -> None:
        """Change a record from inside the IOC and post monitors to clients.

        Input records are passive here (softioc's default, I/O Intr, only queues a scan,
        and a second ``set()`` before it runs drops the first value: a client could miss
        ``Acquire_RBV`` going 1 -> 0 and ophyd's trigger would never finish).  With
        ``sync`` (the default) the record is processed at once by writing PROC, so
        monitors go out in program order and every state is seen.  ``sync=False`` is for
        per-frame counters, where only the latest value matters: they are posted at most
        every :data:`COUNTER_INTERVAL` seconds and by :meth:`flush`.
        """
        record = self.records[name]
        value = self._coerce(name, value)
        if self.specs[name].read_only:
            record.set(value)  # stores the value; nothing is scanned (SCAN Passive)
            if sync:
                record.set_field("PROC", 1)
                self._dirty.discard(name)
            else:
                self._dirty.add(name)
                if time.monotonic() - self._flushed > COUNTER_INTERVAL:
                    self.flush()
            return
        self._internal.setdefault(name, []).append(value)
        record.set(value, process=True)

    def set_if_changed(self, name: str, value: Any, *, sync: bool = True) -> None:
        """:meth:`set`, skipped when the value is already there (saves monitor traffic)."""
        if not _same(self.get(name), self._coerce(name, value)):
            self.set(name, value, sync=sync)

    def set_if_present(self, name: str, value: Any, *, sync: bool = True) -> None:
        """:meth:`set_if_changed` for records only some ophyd versions define."""
        if name in self.records:
            self.set_if_changed(name, value, sync=sync)

    def flush(self) -> None:
        """Post every input record set with ``sync=False`` now (before a state change)."""
        self._flushed = time.monotonic()
        while self._dirty:
            self.records[self._dirty.pop()].set_field("PROC", 1)

    def set_with_rbv(self, name: str, value: Any) -> None:
        """Set a setpoint and its ``_RBV`` readback together."""
        self.set(name, value)
        if name + "_RBV" in self.records:
            self.set(name + "_RBV", value)

    def echo(self, value: Any, name: str) -> None:
        """Default behaviour: the readback shows what the client put."""
        rbv = name + "_RBV"
        if rbv in self.records:
            self.set(rbv, value)

    def _coerce(self, name: str, value: Any) -> Any:
        spec = self.specs[name]
        if spec.kind == "enum" and isinstance(value, str):
            return spec.enum_strs.index(value)
        if spec.kind == "enum":
            return int(value)
        if spec.kind == "int":
            return int(value)
        if spec.kind == "float":
            return float(value)
        if spec.kind in ("str", "char"):
            return str(value)
        return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b)


def _enum_index(spec: PVSpec, value: Any) -> int:
    if isinstance(value, str):
        return spec.enum_strs.index(value) if value in spec.enum_strs else 0
    return int(value)


def _make_record(
    builder: Any, spec: PVSpec, value: Any, on_update: Handler | None, **extra: Any
) -> Any:
    """One softioc record of the type the AD template uses for this PV."""
    name = spec.name
    out = not spec.read_only
    # Input records are processed by RecordSet.set (PROC), never by an I/O Intr scan.
    kwargs: dict[str, Any] = {"SCAN": "Passive", **extra}
    if out:
        # blocking: a put completes once on_update (the handler) has run, see the docstring
        kwargs = {"on_update": on_update, "always_update": True, "blocking": True, **extra}
    if spec.kind == "enum":
        index = _enum_index(spec, value)
        if spec.rtyp in ("bi", "bo", "busy") and len(spec.enum_strs) == 2:
            make = builder.boolOut if out else builder.boolIn
            znam, onam = spec.enum_strs
            return make(name, ZNAM=znam, ONAM=onam, initial_value=index, **kwargs)
        make = builder.mbbOut if out else builder.mbbIn
        return make(name, *spec.enum_strs, initial_value=index, **kwargs)
    if spec.kind == "int":
        make = builder.longOut if out else builder.longIn
        return make(name, initial_value=int(value), **kwargs)
    if spec.kind == "float":
        make = builder.aOut if out else builder.aIn
        return make(name, initial_value=float(value), PREC=3, **kwargs)
    if spec.kind == "str":
        make = builder.stringOut if out else builder.stringIn
        return make(name, initial_value=str(value), **kwargs)
    if spec.kind == "char":
        make = builder.longStringOut if out else builder.longStringIn
        return make(name, initial_value=str(value), length=spec.max_length, **kwargs)
    if spec.kind == "array":
        make = builder.WaveformOut if out else builder.WaveformIn
        return make(name, length=spec.max_length, datatype=np.int32, **kwargs)
    raise ValueError(f"{name}: unknown kind {spec.kind!r}")
