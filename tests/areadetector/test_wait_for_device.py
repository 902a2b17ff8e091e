"""``sim_iocs.testing.wait_for_device``: a signal that pyepics never told of its connection.

pyepics' ``get_pv`` checks ``pv.connected`` before it appends a cached PV's connection
callback, so a PV that connects in between leaves the second ophyd signal sharing it waiting
forever (seen here on the ``DimNSA`` PVs, which two signals of every plugin share). The test
puts a real, connected signal in that state and checks that ophyd alone cannot get out of it
and ``wait_for_device`` does."""

from __future__ import annotations

from typing import Any

import pytest

from sim_iocs.testing import wait_for_device

pytestmark = [pytest.mark.ioc, pytest.mark.usefixtures("eager_devices")]


def _miss_connection(signal: Any) -> None:
    """What the race leaves: every PV connected, the signal never called back."""
    with signal._metadata_lock:
        for pvname in signal._connection_states:
            signal._connection_states[pvname] = False
        signal._metadata["connected"] = False
        signal._signal_is_ready.clear()


def test_a_missed_connection_callback_is_replayed(ioc: Any) -> None:
    from ophyd.areadetector.plugins import TIFFPlugin_V34

    plugin = TIFFPlugin_V34(ioc.prefix + "TIFF1:", name="tiff1")
    wait_for_device(plugin, 30)
    signal = plugin.dim_sa.dim1_sa
    _miss_connection(signal)
    assert not signal.connected and signal._read_pv.connected

    with pytest.raises(TimeoutError, match="dim1_sa"):
        plugin.wait_for_connection(all_signals=True, timeout=0.5)  # ophyd alone: stuck
    wait_for_device(plugin, 0.5)
    assert signal.connected
    assert signal.get() == signal._read_pv.get()


def test_an_unreachable_pv_still_times_out(ioc: Any) -> None:
    from ophyd import Component, Device, EpicsSignalRO

    class Broken(Device):
        missing = Component(EpicsSignalRO, "NoSuchRecord")

    with pytest.raises(TimeoutError, match="NoSuchRecord"):
        wait_for_device(Broken(ioc.prefix, name="broken"), 0.5)
