"""VFS-rooted counterparts of ``ophyd.areadetector.filestore_mixins``.

Same class names, same cooperative ``*args/**kwargs`` chain, same documents (spec,
``resource_kwargs``, datum ids, ``point_number``), with these differences:

- ``root`` names a VFS root (``"/detector"``); Resources carry that logical root, a relative
  POSIX ``resource_path`` and ``path_semantics="posix"``, so no reader ever sees a writer's
  Windows path, and a reader with only ``root_map={"/detector": mount}`` can fill them;
- ``write_path_template`` is the IOC's view, checked against the root's ``writer_root``;
- stage sets ``CreateDirectory`` before ``FilePath`` (ophyd #1027), uses the writer's
  trailing separator, never writes ``Capture`` in Single mode, checks ``FilePathExists_RBV``
  before capture starts and raises :class:`FileNotFoundError` naming both views after
  restoring every PV it set, and bounds every wait with ``stage_timeout``;
- a plugin that is disabled when staged emits no resource and no datums.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import uuid
import warnings
from collections import defaultdict, deque
from collections.abc import Iterator
from datetime import datetime
from itertools import count
from typing import Any

from event_model import compose_resource
from ophyd.device import BlueskyInterface, GenerateDatumInterface, RedundantStaging, Staged
from ophyd.utils.errors import WaitTimeoutError

from ..vfs import VirtualFileSystem, default_vfs, split_logical
from ._templates import PathFormatter, PathPlan, PathTemplates

__all__ = [
    "FileStoreBase",
    "FileStoreHDF5",
    "FileStoreHDF5IterativeWrite",
    "FileStoreHDF5Single",
    "FileStoreHDF5SingleIterativeWrite",
    "FileStoreIterativeWrite",
    "FileStorePluginBase",
    "FileStoreTIFF",
    "FileStoreTIFFIterativeWrite",
    "new_short_uid",
]


def new_short_uid() -> str:
    """ophyd's file name: a uuid4 without its last group (areaDetector's length limits)."""
    return "-".join(str(uuid.uuid4()).split("-")[:-1])


class FileStoreBase(BlueskyInterface, GenerateDatumInterface):
    """Resource/datum bookkeeping for a detector plugin that writes files into a VFS root.

    Parameters (keyword-only, besides ophyd's own)
    ----------------------------------------------
    write_path_template
        Where the IOC writes, in its own view; relative templates are joined to the root's
        ``writer_root``. strftime codes (or ``path_formatter``) apply.
    root
        The logical VFS root (``"/detector"``). Derived from an absolute write template
        when not given.
    read_path_template
        The logical directory (``"/detector/%Y/%m/%d/"`` or relative to ``root``); by
        default the logical twin of the write template.
    path_semantics
        Accepted for compatibility; if given it must match the root's
        ``writer_path_semantics``. Resources are always ``posix``.
    vfs
        The :class:`VirtualFileSystem` (default: :func:`default_vfs`).
    path_formatter
        ``formatter(template, now) -> str`` instead of ``now.strftime(template)``.
    make_directories
        Create the directory through the VFS at stage when this machine can write the root.
    stage_timeout
        Seconds any one PV write of stage may take before a clear ``TimeoutError``.
    """

    def __init__(
        self,
        *args: Any,
        write_path_template: str,
        root: str | None = None,
        path_semantics: str | None = None,
        read_path_template: str | None = None,
        reg: Any = None,
        vfs: VirtualFileSystem | None = None,
        path_formatter: PathFormatter | None = None,
        make_directories: bool = False,
        stage_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        fs = kwargs.pop("fs", None)  # ophyd's old name for reg=
        if reg is None and fs is not None:
            warnings.warn(f"{type(self).__name__}: fs= is deprecated, use reg=", stacklevel=2)
            reg = fs
        super().__init__(*args, **kwargs)
        self.vfs = vfs or default_vfs()
        self._templates = PathTemplates(
            self.vfs,
            root=root,
            write_path_template=write_path_template,
            read_path_template=read_path_template,
            path_semantics=path_semantics,
            path_formatter=path_formatter,
        )
        self._reg = reg
        self.make_directories = make_directories
        self.stage_timeout = stage_timeout
        self._resource_uid: str | None = None
        self._datum_factory: Any = None
        self._asset_docs_cache: deque[tuple[str, dict[str, Any]]] = deque()
        self._locked_key_list = False
        self._datum_uids: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._fn: str | None = None
        self._fp: str | None = None
        self._plan: PathPlan | None = None
        self._emitting = True

    # -- ophyd's properties, logical now ----------------------------------------------------
    @property
    def reg_root(self) -> str:
        """The logical root written into Resources (``"/detector"``)."""
        return f"/{self._templates.root}"

    @property
    def path_semantics(self) -> str:
        """Resources use POSIX paths whatever the IOC's OS."""
        return "posix"

    @path_semantics.setter
    def path_semantics(self, value: str) -> None:
        wanted = {"nt": "windows"}.get(value, value)
        if wanted not in ("posix", self.writer_path_semantics):
            raise ValueError(
                f"path_semantics={value!r}: the writer's semantics come from root "
                f"{self.reg_root} ({self.writer_path_semantics!r}) in the VFS config; "
                "Resources are always 'posix'"
            )

    @property
    def writer_path_semantics(self) -> str:
        return self._templates.view.semantics

    @property
    def write_path_template(self) -> str:
        return self._templates.write_path_template

    @write_path_template.setter
    def write_path_template(self, value: str) -> None:
        self._retemplate(write_path_template=value)

    @property
    def read_path_template(self) -> str:
        """The logical read template, with a trailing '/' as ophyd's."""
        template = self._templates.read_path_template
        if template is None:
            return self._templates.plan().logical_dir
        return template if template.endswith("/") else template + "/"

    @read_path_template.setter
    def read_path_template(self, value: str | None) -> None:
        self._retemplate(read_path_template=value)

    def _retemplate(self, **change: Any) -> None:
        t = self._templates
        options = {
            "root": f"/{t.root}",
            "write_path_template": t.write_path_template,
            "read_path_template": t.read_path_template,
            "path_formatter": t.formatter,
        }
        options.update(change)
        self._templates = PathTemplates(self.vfs, **options)

    # -- the bluesky interface --------------------------------------------------------------
    def stage(self) -> list[Any]:
        self._locked_key_list = False
        self._datum_uids.clear()
        return super().stage()

    def _generate_resource(self, resource_kwargs: dict[str, Any]) -> None:
        if not self._emitting:
            return
        assert self._fn is not None
        logical = split_logical(self._fn.rstrip("/") or "/")
        bundle = compose_resource(
            spec=self.filestore_spec,  # type: ignore[attr-defined]
            root=self.reg_root,
            resource_path=logical.rel,
            resource_kwargs=resource_kwargs,
            path_semantics="posix",
        )
        resource = dict(bundle.resource_doc)
        resource.pop("run_start", None)  # bluesky stamps it when the run collects the docs
        if self._reg is not None:
            resource["uid"] = self._reg.register_resource(
                rpath=resource["resource_path"],
                rkwargs=resource["resource_kwargs"],
                root=resource["root"],
                spec=resource["spec"],
                path_semantics=resource["path_semantics"],
            )
        self._resource_uid = resource["uid"]
        self._datum_factory = _datum_factory(resource["uid"])
        self._asset_docs_cache.append(("resource", resource))

    def _require_staged(self) -> None:
        """A datum needs the resource that stage made: refuse before writing anything."""
        if self._staged != Staged.yes:
            raise RuntimeError(
                f"{self.name} is not staged: stage it before triggering (no datum written)"
            )

    def generate_datum(
        self, key: str, timestamp: float, datum_kwargs: dict[str, Any] | None
    ) -> str | None:
        """A datum for the frames of this trigger; none when the plugin was disabled."""
        self._require_staged()
        if not self._emitting:
            return None
        datum_kwargs = datum_kwargs or {}
        if self._locked_key_list and key not in self._datum_uids:
            raise RuntimeError("modifying after lock")
        if self._reg is not None:
            datum_id = self._reg.register_datum(
                datum_kwargs=datum_kwargs, resource_uid=self._resource_uid
            )
            datum = {"resource": self._resource_uid, "datum_kwargs": datum_kwargs}
            datum["datum_id"] = datum_id
        else:
            datum = self._datum_factory(datum_kwargs)
            datum_id = datum["datum_id"]
        self._asset_docs_cache.append(("datum", datum))
        self._datum_uids[key].append({"value": datum_id, "timestamp": timestamp})
        return datum_id

    def describe(self) -> dict[str, Any]:
        self._locked_key_list = self._staged == Staged.yes
        res = super().describe()
        for key in self._datum_uids:
            res[key] = self.parent.make_data_key()
        return res

    def read(self) -> dict[str, Any]:
        self._locked_key_list = self._staged == Staged.yes
        res = super().read()
        for key, readings in self._datum_uids.items():
            res[key] = readings[-1]
        return res

    def collect_asset_docs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        items = list(self._asset_docs_cache)
        self._asset_docs_cache.clear()
        yield from items

    def unstage(self) -> list[Any]:
        self._locked_key_list = False
        self._resource_uid = None
        self._asset_docs_cache.clear()
        return super().unstage()


def _datum_factory(resource_uid: str) -> Any:
    counter = count()

    def factory(datum_kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "resource": resource_uid,
            "datum_id": f"{resource_uid}/{next(counter)}",
            "datum_kwargs": datum_kwargs,
        }

    return factory


class FileStorePluginBase(FileStoreBase):
    """Configures an areaDetector file plugin at stage from the VFS path templates."""

    #: ``CreateDirectory`` depth put at stage on plugins that have the PV (AD semantics:
    #: negative = create that many levels at the end of the path).
    create_directory_depth = -3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stage_sigs.update(
            [
                ("auto_increment", "Yes"),
                ("array_counter", 0),
                ("auto_save", "Yes"),
                ("num_capture", 0),
            ]
        )
        self._path_originals: list[tuple[Any, Any]] = []

    def make_filename(self) -> tuple[str, str, str]:
        """``(filename, logical read directory, writer directory)``; override to customise.

        Both directories end with their separator. The read directory is logical
        (``/detector/2026/11/21/``); the write directory is the IOC's (``D:\\assets\\...``).
        """
        self._plan = self._templates.plan(datetime.now())
        return new_short_uid(), self._plan.logical_dir, self._plan.writer_dir

    # -- stage ------------------------------------------------------------------------------
    def stage(self) -> list[Any]:
        if self._staged == Staged.yes:
            raise RedundantStaging(f"{self.name} is already staged; unstage it first")
        filename, read_path, write_path = self.make_filename()
        if self.make_directories and not self.vfs.roots[self._templates.root].read_only:
            self.vfs.makedirs(read_path)
        self._path_originals = []
        try:
            self._put_paths(filename, write_path)
            self._check_directory(write_path, read_path)
            self._emitting = self._plugin_enabled()
            with _bounded_writes(self.stage_sigs, self, self.stage_timeout):
                staged = super().stage()
        except BaseException:
            self._restore_paths()
            raise
        template, number = fresh(self.file_template), fresh(self.file_number)
        self._fn = template % (read_path, filename, number - 1)
        self._fp = read_path
        return staged

    def _put_paths(self, filename: str, write_path: str) -> None:
        """Capture off (not in Single mode), CreateDirectory, then FilePath, name, number."""
        if self.file_write_mode.get(as_string=True) != "Single":
            self._put(self.capture, 0, record=False)
        if hasattr(self, "create_directory"):
            self._put(self.create_directory, self.create_directory_depth)
        if self.writer_path_semantics == "windows" and hasattr(self.file_path, "path_semantics"):
            self.file_path.path_semantics = "nt"  # compare FilePath_RBV as a Windows path
        self._put(self.file_path, write_path)
        self._put(self.file_name, filename)
        self._put(self.file_number, 0)

    def _put(self, signal: Any, value: Any, *, record: bool = True) -> None:
        if record:
            self._path_originals.append((signal, fresh(signal)))
        try:
            signal.set(value).wait(timeout=self.stage_timeout)
        except (WaitTimeoutError, TimeoutError) as exc:
            raise TimeoutError(
                f"{signal.pvname if hasattr(signal, 'pvname') else signal.name} did not take "
                f"{value!r} within {self.stage_timeout} s: is the IOC up and the plugin "
                "enabled? (raise stage_timeout= for a slow IOC)"
            ) from exc

    def _check_directory(self, write_path: str, read_path: str) -> None:
        if fresh(self.file_path_exists):
            return
        raise FileNotFoundError(
            errno.ENOENT,
            f"the IOC cannot see its write directory {write_path!r} (logical {read_path!r} on "
            f"root {self.reg_root}); create it, set make_directories=True, or let the IOC "
            "create it (CreateDirectory); every PV stage set was restored",
            read_path,
        )

    def _plugin_enabled(self) -> bool:
        wanted = self.stage_sigs.get("enable")
        if wanted is not None:
            return wanted not in (0, "Disable", "Disabled")
        enable = getattr(self, "enable", None)
        return enable is None or enable.get(as_string=True) not in ("Disable", "0")

    def _restore_paths(self) -> None:
        for signal, value in reversed(self._path_originals):
            with contextlib.suppress(Exception):  # restore as much as the IOC lets us
                signal.set(value).wait(timeout=self.stage_timeout)
        self._path_originals = []

    def unstage(self) -> list[Any]:
        try:
            with _bounded_writes(self.stage_sigs, self, self.stage_timeout):
                return super().unstage()
        finally:
            self._restore_paths()


def fresh(signal: Any, **kwargs: Any) -> Any:
    """The value the IOC has now: an EPICS signal is read with a CA get, not its monitor.

    The mixins read readbacks right after a put (``FilePathExists_RBV`` after ``FilePath``,
    ``FileNumber_RBV`` after ``Capture``); a monitored value can still be the previous one.
    """
    from ophyd.signal import EpicsSignalBase

    if isinstance(signal, EpicsSignalBase):
        return signal.get(use_monitor=False, **kwargs)
    return signal.get(**kwargs)


@contextlib.contextmanager
def _bounded_writes(stage_sigs: Any, device: Any, timeout: float) -> Iterator[None]:
    """Give every staged EPICS signal without a write timeout one, for the stage only.

    ophyd's ``BlueskyInterface.stage`` waits on each ``set`` without a timeout, so an IOC
    that never confirms (a missing directory with Capture=1) would hang the RunEngine.
    """
    changed = []
    for sig in stage_sigs:
        signal = functools.reduce(getattr, sig.split("."), device) if isinstance(sig, str) else sig
        if getattr(signal, "_write_timeout", 0) is None:
            signal._write_timeout = timeout
            changed.append(signal)
    try:
        yield
    finally:
        for signal in changed:
            signal._write_timeout = None


def use_hdf5_stream_file(plugin: Any) -> None:
    """``AD_HDF5``: one file per stage that frames are appended to in Stream mode; the
    iterative and the stream HDF5 mixins set the plugin up alike.

    ``LazyOpen`` goes off before ``Capture``: with it on (ophyd-async's HDF writer leaves it
    so) the file opens at the first frame, so ``FileNumber`` has not advanced when stage reads
    it and the Resource would name file ``-1``, which never exists.
    """
    plugin.filestore_spec = "AD_HDF5"
    if "lazy_open" in getattr(plugin, "component_names", ()):
        plugin.stage_sigs["lazy_open"] = "No"
    plugin.stage_sigs.update(
        [
            ("file_template", "%s%s_%6.6d.h5"),
            ("file_write_mode", "Stream"),
            ("capture", 1),
        ]
    )


def hdf5_frames_per_point(plugin: Any) -> int:
    """``NumCapture``, or the cam's ``NumImages`` when capture is unbounded (0)."""
    num_capture = fresh(plugin.num_capture)
    return fresh(plugin.parent.cam.num_images) if num_capture == 0 else num_capture


class FileStoreHDF5(FileStorePluginBase):
    """One HDF5 file per stage, written in Stream mode (spec ``AD_HDF5``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        use_hdf5_stream_file(self)

    def get_frames_per_point(self) -> int:
        return hdf5_frames_per_point(self)

    def stage(self) -> list[Any]:
        staged = super().stage()
        self._generate_resource({"frame_per_point": self.get_frames_per_point()})
        return staged


class _SingleFileMixin(FileStorePluginBase):
    """One file per frame (HDF5 Single, TIFF): the resource points at the directory."""

    def get_frames_per_point(self) -> int:
        return fresh(self.parent.cam.num_images)

    def stage(self) -> list[Any]:
        staged = super().stage()
        self._fn = self._fp
        self._generate_resource(
            {
                "template": fresh(self.file_template),
                "filename": fresh(self.file_name),
                "frame_per_point": self.get_frames_per_point(),
            }
        )
        return staged


class FileStoreHDF5Single(_SingleFileMixin):
    """One HDF5 file per frame (spec ``AD_HDF5_SINGLE``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filestore_spec = "AD_HDF5_SINGLE"
        self.stage_sigs.update([("file_template", "%s%s_%6.6d.h5"), ("file_write_mode", "Single")])


class FileStoreTIFF(_SingleFileMixin):
    """One TIFF file per frame (spec ``AD_TIFF``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filestore_spec = "AD_TIFF"
        self.stage_sigs.update(
            [("file_template", "%s%s_%6.6d.tiff"), ("file_write_mode", "Single")]
        )


class FileStoreIterativeWrite(FileStoreBase):
    """Adds ``point_number`` to every datum's kwargs, as ophyd's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._point_counter: Any = None

    def stage(self) -> list[Any]:
        staged = super().stage()
        self._point_counter = count()
        return staged

    def unstage(self) -> list[Any]:
        self._point_counter = None
        return super().unstage()

    def generate_datum(
        self, key: str, timestamp: float, datum_kwargs: dict[str, Any] | None
    ) -> str | None:
        if self._point_counter is None:
            raise RuntimeError(
                f"{self.name} is not staged: stage it before triggering (no datum written)"
            )
        datum_kwargs = dict(datum_kwargs or {})
        datum_kwargs["point_number"] = next(self._point_counter)
        return super().generate_datum(key, timestamp, datum_kwargs)


class FileStoreHDF5IterativeWrite(FileStoreHDF5, FileStoreIterativeWrite):
    pass


class FileStoreHDF5SingleIterativeWrite(FileStoreHDF5Single, FileStoreIterativeWrite):
    pass


class FileStoreTIFFIterativeWrite(FileStoreTIFF, FileStoreIterativeWrite):
    pass
