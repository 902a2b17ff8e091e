"""Ready-made plugin classes: ophyd's V34 file plugins with the VFS mixins."""

from __future__ import annotations

from typing import Any

from ophyd.areadetector.plugins import HDF5Plugin_V34, TIFFPlugin_V34, UnprimedPlugin

from ._filestore import FileStoreHDF5IterativeWrite, FileStoreTIFFIterativeWrite
from ._stream import FileStoreHDF5Stream, FileStoreTIFFStream

__all__ = [
    "HDF5PluginWithVFS",
    "HDF5StreamPluginWithVFS",
    "TIFFPluginWithVFS",
    "TIFFStreamPluginWithVFS",
]


class _PrimingHint:
    """Turns ophyd's bare ``UnprimedPlugin`` into one that says how to prime."""

    def stage(self) -> list[Any]:
        try:
            return super().stage()
        except UnprimedPlugin as exc:
            raise UnprimedPlugin(
                f"{exc}: the HDF5 plugin has not seen a frame since the IOC started, so it "
                f"cannot size its datasets. Prime it once with `{self.name}.warmup()` (or "
                "acquire one frame with the plugin enabled), then stage again."
            ) from None


class HDF5PluginWithVFS(_PrimingHint, HDF5Plugin_V34, FileStoreHDF5IterativeWrite):
    """``HDF5Plugin_V34`` writing into a VFS root: ``Cpt(HDF5PluginWithVFS, "HDF1:", ...)``."""


class HDF5StreamPluginWithVFS(_PrimingHint, HDF5Plugin_V34, FileStoreHDF5Stream):
    """``HDF5Plugin_V34`` emitting StreamResource/StreamDatum for a VFS root."""


class TIFFStreamPluginWithVFS(TIFFPlugin_V34, FileStoreTIFFStream):
    """``TIFFPlugin_V34`` emitting StreamResource/StreamDatum for a VFS root."""


class TIFFPluginWithVFS(TIFFPlugin_V34, FileStoreTIFFIterativeWrite):
    """``TIFFPlugin_V34`` writing into a VFS root: ``Cpt(TIFFPluginWithVFS, "TIFF1:", ...)``."""
