"""Helpers of the read-back tests: the run shape and the frame checks (the served catalog,
``TiledServer``, is in ``tiled.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim_iocs import expected_frame
from tests.handlers.docs import frames

Docs = list[tuple[str, dict[str, Any]]]
FRAMES = 3
SHAPE = (64, 64)  # the sim IOC's default image size


def check_frames(images: Any) -> None:
    """``(FRAMES, 1, y, x)`` and every pixel by the sim IOC's formula."""
    images = np.asarray(images)
    assert images.shape == (FRAMES, 1, *SHAPE)
    for k in range(FRAMES):
        np.testing.assert_array_equal(images[k, 0], expected_frame(k, *SHAPE, np.uint16))


def data_source(mimetype: str, uris: list[str], n: int, **parameters: Any) -> Any:
    from tiled.structures.array import ArrayStructure
    from tiled.structures.core import StructureFamily
    from tiled.structures.data_source import Asset, DataSource

    structure = ArrayStructure.from_array(frames(n))
    assets = [Asset(uri, False, "data_uris", i) for i, uri in enumerate(uris)]
    return DataSource(StructureFamily.array, structure, None, mimetype, parameters, {}, assets)
