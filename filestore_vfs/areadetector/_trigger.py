"""A race-free counterpart of ``ophyd.areadetector.trigger_mixins.SingleTrigger``.

ophyd's ``SingleTrigger.trigger`` stores a new status in ``self._status``, puts
``Acquire = 1`` without waiting, and returns ``self._status``.  The ``Acquire`` callback runs
in another thread and, on the 1 -> 0 edge, finishes the status and sets ``self._status`` to
``None``.  When the acquisition is over before ``trigger`` reaches its ``return`` (a short
exposure, a loaded machine), ``trigger`` returns ``None`` and the RunEngine fails with
``'NoneType' object has no attribute 'finished_cb'``.

:class:`SingleTrigger` keeps ophyd's constructor, stage, unstage, status type
(``ADTriggerStatus``) and datum, and returns the status it made, finished or not.  It also
finishes a trigger whose 1 -> 0 edge reached the client as a single ``0`` (Channel Access
may coalesce the two updates of a short acquisition on a busy client) once ``ArrayCounter``
shows that the frames this trigger asked for were taken.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ophyd.areadetector.trigger_mixins import SingleTrigger as _OphydSingleTrigger
from ophyd.device import Staged

__all__ = ["SingleTrigger"]


class SingleTrigger(_OphydSingleTrigger):
    """One acquisition per trigger; ``trigger()`` always returns the status it created.

    A drop-in for ophyd's mixin: put it first in the bases, as there::

        class MyDetector(SingleTrigger, SimDetector): ...
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trigger_lock = threading.Lock()
        #: ``ArrayCounter`` value at which the pending trigger's frames are all taken.
        self._frames_target: int | None = None

    def trigger(self) -> Any:
        """Start one acquisition and return its status (possibly already finished)."""
        if self._staged != Staged.yes:
            raise RuntimeError(
                "This detector is not ready to trigger. Call the stage() method before triggering."
            )
        status = self._status_type(self)
        target = self._counter_target()
        with self._trigger_lock:
            self._status = status
            self._frames_target = target
        self._acquisition_signal.put(1, wait=False)
        self.generate_datum(self._image_name, time.time(), {})
        return status  # never self._status: the Acquire callback may have cleared it

    def _acquire_changed(self, value: Any = None, old_value: Any = None, **kwargs: Any) -> None:
        """The ``Acquire`` subscription: finish the pending status when acquisition ends."""
        if value != 0:
            return
        with self._trigger_lock:
            status = self._status
            if status is None:
                return
            if old_value != 1 and not self._frames_taken():
                return  # a 0 that is not the end of this trigger's acquisition
            self._status = None
            self._frames_target = None
        if not status.done:
            status.set_finished()

    # -- the coalesced-edge fallback ------------------------------------------------------------
    def _counter_target(self) -> int | None:
        """``ArrayCounter`` once this trigger's frames are taken, or None if unknown."""
        cam = getattr(self, "cam", None)
        try:
            mode = cam.image_mode.get(as_string=True)
            frames = 1 if mode == "Single" else int(cam.num_images.get())
            return None if mode == "Continuous" else int(cam.array_counter.get()) + frames
        except Exception:  # noqa: BLE001 - no counter, no fallback: ophyd's edge rule only
            return None

    def _frames_taken(self) -> bool:
        target = self._frames_target
        if target is None:
            return False
        try:
            return int(self.cam.array_counter.get()) >= target
        except Exception:  # noqa: BLE001 - see _counter_target
            return False
