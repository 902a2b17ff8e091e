"""``SingleTrigger``: the status ``trigger()`` made comes back even when the frame is done first.

The race is made deterministic with a fake ``Acquire`` signal whose ``put(1)`` takes the
frame and goes back to 0 inside ``put``, running the subscriptions (the 0 -> 1 and 1 -> 0
updates) before ``put`` returns: the order a loaded machine produces by chance.
"""

from __future__ import annotations

from typing import Any

import pytest
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.areadetector.trigger_mixins import ADTriggerStatus
from ophyd.areadetector.trigger_mixins import SingleTrigger as OphydSingleTrigger

from filestore_vfs.areadetector import SingleTrigger


class FakeAcquire(Signal):
    """``Acquire`` with its readback.

    ``instant``: ``put(1)`` takes one frame and the readback goes 0 -> 1 -> 0 inside ``put``.
    ``coalesce``: the same, but the end arrives as one update of 0 (old value 0), as Channel
    Access may deliver the 1 and the 0 of a short acquisition to a busy client.
    Otherwise ``put`` only reaches the (fake) IOC and the test drives the readback with
    :meth:`update` and :meth:`finish`.
    """

    instant = True
    coalesce = False

    def put(self, value: Any, **kwargs: Any) -> None:  # ophyd's trigger passes wait=False
        if value != 1:
            self.update(value)
        elif self.instant:
            self.count_frame()
            if not self.coalesce:
                self.update(1)
            self.update(0)

    def update(self, value: int) -> None:
        """A readback update reaching the client (runs the subscriptions here and now)."""
        super().put(value)

    def count_frame(self) -> None:
        counter = self.parent.array_counter
        counter.put(counter.get() + 1)

    def finish(self) -> None:
        """End a running acquisition: count its frame, then the 1 -> 0 edge."""
        self.count_frame()
        self.update(0)


class FakeCam(Device):
    acquire = Cpt(FakeAcquire, value=0)
    image_mode = Cpt(Signal, value=0)
    num_images = Cpt(Signal, value=1)
    array_counter = Cpt(Signal, value=0)


class FakeDetectorBase(Device):
    cam = Cpt(FakeCam, "")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.datums: list[str] = []

    def generate_datum(self, key: str, timestamp: float, datum_kwargs: dict) -> None:
        self.datums.append(key)


class Ours(SingleTrigger, FakeDetectorBase):
    pass


class Ophyds(OphydSingleTrigger, FakeDetectorBase):
    pass


def staged(cls: type, *, instant: bool = True, coalesce: bool = False) -> Any:
    det = cls("", name="det")
    det.cam.acquire.instant = instant
    det.cam.acquire.coalesce = coalesce
    det.stage()
    return det


def test_ophyds_trigger_returns_none_when_the_frame_is_done_first() -> None:
    det = staged(Ophyds)
    try:
        assert det.trigger() is None  # the defect this class fixes
    finally:
        det.unstage()


def test_ours_returns_the_finished_status_when_the_frame_is_done_first() -> None:
    det = staged(Ours)
    try:
        for n in range(1, 4):
            status = det.trigger()
            assert isinstance(status, ADTriggerStatus)
            status.wait(timeout=10)
            assert status.success
            assert det.cam.array_counter.get() == n
        assert det.datums == ["det_image"] * 3
    finally:
        det.unstage()


def test_ours_finishes_on_the_falling_edge_of_a_slower_acquisition() -> None:
    det = staged(Ours, instant=False)
    try:
        status = det.trigger()
        assert not status.done
        det.cam.acquire.update(1)
        assert not status.done
        det.cam.acquire.finish()
        status.wait(timeout=10)
        assert status.success
    finally:
        det.unstage()


def test_ours_finishes_when_the_edge_arrives_as_one_zero() -> None:
    det = staged(Ours, coalesce=True)
    try:
        status = det.trigger()
        status.wait(timeout=10)
        assert status.success
    finally:
        det.unstage()


def test_a_zero_before_the_frames_are_taken_does_not_finish_the_trigger() -> None:
    det = staged(Ours, instant=False)
    try:
        status = det.trigger()
        det.cam.acquire.update(0)  # e.g. a late update from stage's Acquire = 0
        assert not status.done
        det.cam.acquire.update(1)
        det.cam.acquire.finish()
        status.wait(timeout=10)
        assert status.success
    finally:
        det.unstage()


def test_triggering_an_unstaged_detector_raises() -> None:
    det = Ours("", name="det")
    with pytest.raises(RuntimeError, match="stage"):
        det.trigger()


def test_a_bluesky_count_with_instant_frames() -> None:
    from bluesky import RunEngine
    from bluesky.plans import count

    det = Ours("", name="det")
    docs: list[str] = []
    engine = RunEngine({})
    engine.subscribe(lambda name, doc: docs.append(name))
    engine(count([det], num=5))
    assert docs.count("event") == 5
    assert det.cam.array_counter.get() == 5
