"""Stream variants: one StreamResource per stage and StreamDatum index ranges.

A scan of N points emits one StreamResource (``uri = vfs://<root>/<path>``) and one
StreamDatum per event (step scans: bluesky wants an index range of one per event) or per
``collect`` (fly scans: one range for every frame written since the last collect), instead
of N Datum documents. Readers resolve the ``vfs://`` URI through their own VFS.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from event_model import compose_stream_resource
from ophyd.device import Staged

from ._filestore import FileStorePluginBase, fresh, hdf5_frames_per_point, use_hdf5_stream_file

__all__ = ["FileStoreHDF5Stream", "FileStoreTIFFStream", "StreamingFlyerMixin"]


class _StreamBase(FileStorePluginBase):
    """Shared bookkeeping: compose the StreamResource lazily, emit index ranges."""

    mimetype: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bundle: Any = None
        self._emitted = 0  # indices already covered by a StreamDatum
        self._written = 0  # indices the detector has produced
        self._frames_per_index = 1

    @property
    def data_key(self) -> str:
        """The data key of the images: the detector's ``<name>_image``, as ophyd's."""
        return getattr(self.parent, "_image_name", f"{self.parent.name}_image")

    def stage(self) -> list[Any]:
        staged = super().stage()
        self._bundle = None
        self._emitted = self._written = 0
        self._frames_per_index = max(1, int(self.get_frames_per_point()))
        return staged

    def get_frames_per_point(self) -> int:
        return int(fresh(self.parent.cam.num_images))

    def _frame_shape(self) -> list[int]:
        cam = self.parent.cam
        return [int(fresh(cam.array_size.array_size_y)), int(fresh(cam.array_size.array_size_x))]

    def _stream_resource(self) -> Any:
        if self._bundle is None:
            self._bundle = compose_stream_resource(
                mimetype=self.mimetype,
                uri=self.stream_uri(),
                data_key=self.data_key,
                parameters=self.stream_parameters(),
            )
            resource = dict(self._bundle.stream_resource_doc)
            self._asset_docs_cache.append(("stream_resource", resource))
        return self._bundle

    def stream_uri(self) -> str:
        raise NotImplementedError

    def stream_parameters(self) -> dict[str, Any]:
        raise NotImplementedError

    def _emit_until(self, index: int) -> None:
        if not self._emitting or index <= self._emitted:
            return
        bundle = self._stream_resource()
        datum = bundle.compose_stream_datum(indices={"start": self._emitted, "stop": index})
        self._asset_docs_cache.append(("stream_datum", dict(datum)))
        self._emitted = index

    # -- step scans: one index per trigger --------------------------------------------------
    def generate_datum(
        self, key: str, timestamp: float, datum_kwargs: dict[str, Any] | None
    ) -> str | None:
        self._require_staged()
        self._written += 1
        self._emit_until(self._written)
        return None

    def describe(self) -> dict[str, Any]:
        res = super().describe()
        if self._emitting and self._staged == Staged.yes:
            res[self.data_key] = self._data_key(self._frames_per_index)
        return res

    def _data_key(self, frames: int) -> dict[str, Any]:
        key = dict(self.parent.make_data_key())
        key["shape"] = [frames, *self._frame_shape()]
        key["external"] = "STREAM:"
        return key

    def collect_asset_docs(self, index: int | None = None) -> Iterator[tuple[str, dict]]:
        if index is not None:
            self._emit_until(index)
        yield from super().collect_asset_docs()


class FileStoreHDF5Stream(_StreamBase):
    """One HDF5 file per stage (Stream mode), described by one StreamResource."""

    mimetype = "application/x-hdf5"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        use_hdf5_stream_file(self)

    def get_frames_per_point(self) -> int:
        return hdf5_frames_per_point(self)

    def stream_uri(self) -> str:
        assert self._fn is not None
        return "vfs:/" + self._fn

    def stream_parameters(self) -> dict[str, Any]:
        return {
            "dataset": "/entry/data/data",
            "chunk_shape": [self._frames_per_index, *self._frame_shape()],
            "frame_per_point": self._frames_per_index,
        }


class FileStoreTIFFStream(_StreamBase):
    """One TIFF file per frame, described by one StreamResource over the directory."""

    mimetype = "multipart/related;type=image/tiff"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filestore_spec = "AD_TIFF"
        self.stage_sigs.update(
            [("file_template", "%s%s_%6.6d.tiff"), ("file_write_mode", "Single")]
        )

    def stream_uri(self) -> str:
        assert self._fp is not None
        return "vfs:/" + self._fp

    def stream_parameters(self) -> dict[str, Any]:
        return {
            "template": f"{fresh(self.file_name)}_{{:06d}}.tiff",
            "chunk_shape": [1, *self._frame_shape()],
            "frame_per_point": self._frames_per_index,
        }


class StreamingFlyerMixin:
    """Makes an area detector with a stream plugin flyable: ``kickoff``/``complete``/``collect``.

    ``kickoff`` starts ``fly_frames`` frames; ``complete`` finishes when the camera is done
    and the plugin has written them; ``collect`` emits one StreamDatum for every frame
    written since the last one. Mix it in before the detector class (``SingleTrigger`` from
    ``filestore_vfs.areadetector``)::

        class FlyDet(StreamingFlyerMixin, SingleTrigger, SimDetector):
            hdf1 = Cpt(HDF5StreamPluginWithVFS, "HDF1:", root="/detector", ...)
    """

    stream_plugin_name = "hdf1"

    def __init__(self, *args: Any, fly_frames: int = 10, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fly_frames = fly_frames

    @property
    def _stream_plugin(self) -> _StreamBase:
        return getattr(self, self.stream_plugin_name)

    def kickoff(self) -> Any:
        from ophyd.status import DeviceStatus

        plugin = self._stream_plugin
        plugin._frames_per_index = 1
        if not hasattr(self, "_fly_restore"):  # put back at unstage, as stage_sigs would be
            self._fly_restore = [(s, s.get()) for s in (self.cam.image_mode, self.cam.num_images)]
        self.cam.image_mode.set("Multiple").wait(10)
        self.cam.num_images.set(self.fly_frames).wait(10)
        self._fly_target = int(fresh(plugin.num_captured)) + self.fly_frames
        self.cam.acquire.put(1)
        status = DeviceStatus(self)
        status.set_finished()
        return status

    def complete(self) -> Any:
        """Done when the plugin has written every frame (not when Acquire drops: a fast
        camera can finish before anyone looks, and then the edge is never seen)."""
        from ophyd.status import SubscriptionStatus

        target = self._fly_target

        def written(value: Any = None, **kwargs: Any) -> bool:
            return value is not None and int(value) >= target

        return SubscriptionStatus(self._stream_plugin.num_captured, written, run=True)

    def unstage(self) -> list[Any]:
        # kickoff changed these after stage, so they go back first (reverse order)
        for signal, value in reversed(self.__dict__.pop("_fly_restore", [])):
            signal.set(value).wait(10)
        return super().unstage()  # type: ignore[misc]

    def get_index(self) -> int:
        return int(self._stream_plugin.num_captured.get())

    def describe_collect(self) -> dict[str, Any]:
        plugin = self._stream_plugin
        return {plugin.data_key: plugin._data_key(1)}

    def collect_asset_docs(self, index: int | None = None) -> Iterator[tuple[str, dict]]:
        plugin = self._stream_plugin
        plugin._emit_until(self.get_index() if index is None else index)
        yield from plugin.collect_asset_docs()
