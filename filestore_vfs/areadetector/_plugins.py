"""Ready-made plugin classes: ophyd's V34 file plugins with the VFS mixins."""

from __future__ import annotations

from typing import Any

from ophyd.areadetector.plugins import HDF5Plugin_V34, TIFFPlugin_V34, UnprimedPlugin

from ._filestore import FileStoreHDF5IterativeWrite, FileStoreTIFFIterativeWrite

__all__ = ["HDF5PluginWithVFS", "TIFFPluginWithVFS"]


class HDF5PluginWithVFS(HDF5Plugin_V34, FileStoreHDF5IterativeWrite):
    """``HDF5Plugin_V34`` writing into a VFS root: ``Cpt(HDF5PluginWithVFS, "HDF1:", ...)``."""

    def stage(self) -> list[Any]:
        try:
            return super().stage()
        except UnprimedPlugin as exc:
            raise UnprimedPlugin(
                f"{exc}: the HDF5 plugin has not seen a frame since the IOC started, so it "
                f"cannot size its datasets. Prime it once with `{self.name}.warmup()` (or "
                "acquire one frame with the plugin enabled), then stage again."
            ) from None


class TIFFPluginWithVFS(TIFFPlugin_V34, FileStoreTIFFIterativeWrite):
    """``TIFFPlugin_V34`` writing into a VFS root: ``Cpt(TIFFPluginWithVFS, "TIFF1:", ...)``."""
