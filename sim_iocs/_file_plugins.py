"""NDPluginFile behaviour: paths in the writer's view, file names, Single/Capture/Stream.

The rules follow ADCore's ``asynNDArrayDriver`` and ``NDPluginFile``: ``FilePath`` gets a
trailing separator and ``FilePathExists_RBV``; ``CreateDirectory`` creates directories at
``FilePath`` time with AD's depth semantics; each file open formats ``FileTemplate`` with
(path, name, number), shows it in ``FullFileName_RBV`` and then auto-increments
``FileNumber``; errors go to ``WriteStatus``/``WriteMessage`` and never stop the IOC.

Unlike AD, the sim refuses a file name that would leave the ``FilePath`` directory
(:func:`check_file_name`, :func:`check_full_file_name`: ``..``, a ``FileName`` that is an
absolute path or has a drive or UNC prefix, a NUL byte, or a ``FileTemplate`` that does not
start with the path), as it refuses a ``FilePath``
outside every mount: at the ``FileName``/``FileTemplate`` put (WriteStatus = Write error, a
WriteMessage saying why) and again at every file open, which then writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from sim_iocs._mounts import MountTable
from sim_iocs._plugins import NDArray, PluginBase
from sim_iocs._records import RecordSet

__all__ = [
    "FileNameError",
    "FilePluginBase",
    "FileTemplateError",
    "HDF5Plugin",
    "TIFFPlugin",
    "check_file_name",
    "check_file_template",
    "check_full_file_name",
]

log = logging.getLogger("sim_iocs")

SINGLE, CAPTURE, STREAM = 0, 1, 2
WRITE_OK, WRITE_ERROR = 0, 1

_CONVERSION = re.compile(
    r"%(?:%|[-+ #0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|z|j|t)?([a-zA-Z]))"
)


class FileTemplateError(ValueError):
    """A ``FileTemplate`` that does not take (path, name, number)."""


class FileNameError(ValueError):
    """A full file name (``FileTemplate`` % (path, name, number)) that leaves ``FilePath``."""


#: A drive prefix (``C:``) at the start of a name component: Windows would read it as a drive.
_DRIVE = re.compile(r"[A-Za-z]:")


def check_file_name(name: str) -> None:
    """Refuse a ``FileName`` that is a path of its own: absolute (``/x``, ``\\x``, a UNC
    ``\\\\server\\share``), with a drive prefix (``C:``), a ``..`` component or a NUL byte;
    both ``/`` and ``\\`` count as separators, whatever the mount."""
    if "\x00" in name:
        raise FileNameError(f"FileName {name!r} contains a NUL byte")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise FileNameError(
            f"FileName {name} is a path of its own (absolute, UNC or drive), not a name in FilePath"
        )
    if ".." in re.split(r"[\\/]", name):
        raise FileNameError(f"FileName {name} has a '..' component")


def check_full_file_name(path: str, full: str) -> str:
    """The part of ``full`` below the ``FilePath`` ``path``, if ``full`` stays inside it.

    ``full`` is what the template made of (path, name, number). It must start with ``path``
    (the template's first ``%s``); the rest, without leading separators (``%s/%s`` is as
    good as ``%s%s`` to the OS), may hold no NUL byte, no ``..`` component and no drive
    prefix (``C:``) in any component; both ``/`` and ``\\`` count as separators, whatever
    the mount. Else :class:`FileNameError` says why.
    """
    if "\x00" in full:
        raise FileNameError(f"full file name {full!r} contains a NUL byte")
    if not full.startswith(path):
        raise FileNameError(
            f"full file name {full} does not start with FilePath {path} "
            "(FileTemplate must begin with %s)"
        )
    rest = full[len(path) :].lstrip("/\\")
    for part in re.split(r"[\\/]", rest):
        if part == "..":
            raise FileNameError(f"full file name {full} has a '..' component")
        if _DRIVE.match(part):
            raise FileNameError(f"full file name {full} has a drive prefix ({part[:2]})")
    return rest


def check_file_template(template: str) -> str:
    """Validate a C template for ``(char *path, char *name, int number)``; return it for Python.

    The number may go unused (``%s%s.h5``, as ophyd-async writes HDF5), as C allows.

    AD hands the template to ``epicsSnprintf``; a template with the wrong conversions is
    undefined behaviour there.  The sim refuses it with a clear ``WriteMessage`` instead.
    """
    kinds = [m.group(1) for m in _CONVERSION.finditer(template) if m.group(0) != "%%"]
    if "*" in template.replace("%%", ""):
        raise FileTemplateError(f"FileTemplate {template!r}: '*' widths are not supported")
    number_ok = len(kinds) == 2 or (len(kinds) == 3 and kinds[2] in "diuxXo")
    if kinds[:2] != ["s", "s"] or not number_ok:
        raise FileTemplateError(
            f"FileTemplate {template!r} must have 2 or 3 conversions "
            "(%s for the path, %s for the name, optionally an integer for the number); "
            f"found {len(kinds)}"
        )
    # Python's % has no length modifiers; drop them.
    python = re.sub(r"(%[-+ #0]*\d*(?:\.\d+)?)(?:hh|h|ll|l|z|j|t)([diuxXo])", r"\1\2", template)
    # C ignores an unused number argument (ophyd-async's "%s%s.h5"); Python needs a
    # conversion for it: "%.0s" takes it and prints nothing.
    return python if len(kinds) == 3 else python + "%.0s"


class FilePluginBase(PluginBase):
    """The NDPluginFile state machine shared by the HDF5 and TIFF plugins."""

    counts_every_array = False
    #: True for formats that hold many frames in one file (HDF5), False for TIFF.
    multiple_arrays = False

    def __init__(self, pvs: RecordSet, suffix: str, port: str, mounts: MountTable) -> None:
        super().__init__(pvs, suffix, port)
        self.mounts = mounts
        self.capture_buffer: list[NDArray] = []
        self.init_info: tuple[tuple[int, ...], np.dtype] | None = None
        self.primed_info: tuple[tuple[int, ...], np.dtype] | None = None
        self.open_file: Any = None
        self.capturing = False

    # -- set-up -----------------------------------------------------------------------
    def initial_values(self, source_port: str) -> dict[str, object]:
        """File plugin start-up values (AD's template defaults)."""
        values = super().initial_values(source_port)
        values.update(
            {
                self.pv("FilePath"): "",
                self.pv("FileName"): "",
                self.pv("FileNumber"): 0,
                self.pv("AutoIncrement"): 0,
                self.pv("AutoSave"): 0,
                self.pv("FileWriteMode"): SINGLE,
                self.pv("NumCapture"): 1,
                self.pv("NumCapture_RBV"): 1,
                self.pv("CreateDirectory"): 0,
                self.pv("LazyOpen"): 0,
            }
        )
        return values

    def register(self) -> None:
        """Own the PVs whose puts do more than echo."""
        pvs = self.pvs
        pvs.on_put(self.pv("FilePath"), self._put_file_path)
        pvs.on_put(self.pv("FileName"), self._put_file_name)
        pvs.on_put(self.pv("FileTemplate"), self._put_file_template)
        pvs.on_put(self.pv("Capture"), self._put_capture)
        pvs.on_put(self.pv("WriteFile"), self._put_write_file)
        pvs.on_put(self.pv("ReadFile"), self._put_read_file)
        pvs.blocking(self.pv("WriteFile"))
        pvs.blocking(self.pv("ReadFile"))

    def prime(self, shape_xy: tuple[int, int], data_type: str) -> None:
        """As if one frame of this shape had been received (``--primed``)."""
        super().prime(shape_xy, data_type)
        self.primed_info = ((shape_xy[1], shape_xy[0]), np.dtype(data_type.lower()))

    def last_info(self) -> tuple[tuple[int, ...], np.dtype] | None:
        """Shape and dtype of the last frame received (AD's ``pArrays[0]``)."""
        if self.last_array is not None:
            return self._info(self.last_array)
        return self.primed_info

    # -- errors -----------------------------------------------------------------------
    def error(self, message: str) -> None:
        """Report like AD: ``WriteStatus`` = Write error and the message."""
        log.warning("%s %s", self.suffix, message)
        self.pvs.set(self.pv("WriteMessage"), message[:255])
        self.pvs.set(self.pv("WriteStatus"), WRITE_ERROR)

    def clear_error(self) -> None:
        """AD clears the status at every file open."""
        self.pvs.set_if_changed(self.pv("WriteStatus"), WRITE_OK)
        self.pvs.set_if_changed(self.pv("WriteMessage"), "")

    # -- FilePath ---------------------------------------------------------------------
    def _put_file_path(self, value: str) -> None:
        path = value
        if path and not path.endswith(("/", "\\")):
            path += self.mounts.separator(path)
        depth = int(self.pvs.get(self.pv("CreateDirectory")))
        if path and self._host_dir(path) is None and depth != 0:
            self.create_path(path, depth)
        # The readback goes last: a client that sees it also sees FilePathExists_RBV.
        self.check_path(path)
        self.pvs.set(self.pv("FilePath_RBV"), path)

    def _host_dir(self, path: str) -> Path | None:
        host = self.mounts.to_host(path)
        return host if host is not None and host.is_dir() else None

    def check_path(self, path: str | None = None) -> Path | None:
        """Evaluate ``FilePathExists_RBV`` in the writer's view; return the host dir."""
        if path is None:
            path = str(self.pvs.get(self.pv("FilePath_RBV")))
        if not path:
            return None
        host = self._host_dir(path)
        self.pvs.set_if_changed(self.pv("FilePathExists_RBV"), int(host is not None))
        if self.mounts.to_host(path) is None:
            self.error(f"FilePath {path} is outside every directory this IOC can write")
        elif host is None:
            self.error(f"FilePath {path} does not exist")
        return host

    def create_path(self, path: str, depth: int) -> None:
        """``CreateDirectory``: >0 assumes that many leading parts exist, <0 creates the last."""
        drive = path[:2] if path[1:2] == ":" else ""
        body = path[len(drive) :]
        lead = body[: len(body) - len(body.lstrip("/\\"))]
        parts = [p for p in re.split(r"[\\/]", body) if p]
        if depth < 0:
            depth = max(len(parts) + depth, 1)
        sep = self.mounts.separator(path)
        for i in range(depth, len(parts)):
            writer_dir = drive + lead + sep.join(parts[: i + 1])
            host = self.mounts.to_host(writer_dir)
            if host is None:
                continue
            try:
                host.mkdir(exist_ok=True)
            except OSError as exc:
                self.error(f"Cannot create directory {writer_dir}: {exc.strerror}")
                return

    # -- file names -------------------------------------------------------------------
    def _put_file_name(self, value: str) -> None:
        self._check_name_put(
            "FileName", value, value, str(self.pvs.get(self.pv("FileTemplate_RBV")))
        )

    def _put_file_template(self, value: str) -> None:
        self._check_name_put(
            "FileTemplate", value, str(self.pvs.get(self.pv("FileName_RBV"))), value
        )

    def _check_name_put(self, pv: str, value: str, name: str, template: str) -> None:
        """Refuse, as early as a bad ``FilePath``, a name or template that leaves the path.

        The check is that of every file open (:meth:`next_file_name`), with the current
        ``FilePath`` and ``FileNumber``; a template with the wrong conversions is reported
        at the open, as AD does. The readback goes last, as for ``FilePath``.
        """
        path = str(self.pvs.get(self.pv("FilePath_RBV")))
        number = int(self.pvs.get(self.pv("FileNumber")))
        try:
            full = check_file_template(template) % (path, name, number)
        except (FileTemplateError, TypeError, ValueError):
            full = None
        try:
            check_file_name(name)
            if full is not None:
                check_full_file_name(path, full)
        except FileNameError as exc:
            self.error(f"{pv} refused, no file will be written: {exc}")
        self.pvs.echo(value, self.pv(pv))

    def next_file_name(self) -> tuple[str, Path] | None:
        """AD's ``createFileName``: format, show, auto-increment; None (and an error) if not."""
        pvs = self.pvs
        host_dir = self.check_path()
        if host_dir is None:
            return None
        path = str(pvs.get(self.pv("FilePath_RBV")))
        name = str(pvs.get(self.pv("FileName_RBV")))
        number = int(pvs.get(self.pv("FileNumber")))
        try:
            template = check_file_template(str(pvs.get(self.pv("FileTemplate_RBV"))))
            check_file_name(name)
            full = template % (path, name, number)
            rest = check_full_file_name(path, full)
        except (FileTemplateError, FileNameError, TypeError, ValueError) as exc:
            self.error(f"Error creating full file name: {exc}")
            return None
        host_path = host_dir / rest
        if not _inside(host_path, host_dir):  # not reachable after the check: a last guard
            self.error(f"Error creating full file name: {full} leaves FilePath {path}")
            return None
        pvs.set(self.pv("FullFileName_RBV"), full)
        if int(pvs.get(self.pv("AutoIncrement"))):
            pvs.set_with_rbv(self.pv("FileNumber"), number + 1)
        return full, host_path

    def open_for(self, array_info: tuple[tuple[int, ...], np.dtype] | None) -> bool:
        """Open the next file for frames of ``array_info``; False (and an error) on failure."""
        self.clear_error()
        names = self.next_file_name()
        if names is None or array_info is None:
            if array_info is None:
                self.error("ERROR, must collect an array to get dimensions first")
            return False
        full, host_path = names
        try:
            self.open_file = self.create_file(host_path, *array_info)
        except OSError as exc:
            self.error(f"Error opening file {full}: {exc.strerror or exc}")
            return False
        self.init_info = array_info
        return True

    def close(self) -> None:
        """Close the open file, if any; errors become WriteMessage."""
        handle, self.open_file = self.open_file, None
        if handle is None:
            return
        try:
            self.close_file(handle)
        except OSError as exc:
            self.error(f"Error closing file: {exc}")

    def write_one(self, array: NDArray) -> bool:
        """Append one frame to the open file."""
        try:
            self.write_frame(self.open_file, array)
        except (OSError, ValueError, TypeError) as exc:
            self.error(f"Error writing file: {exc}")
            return False
        return True

    # -- format hooks -----------------------------------------------------------------
    def create_file(self, host_path: Path, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """Create a file for frames of ``shape``/``dtype``; return a handle."""
        raise NotImplementedError

    def write_frame(self, handle: Any, array: NDArray) -> None:
        """Add one frame to the file."""
        raise NotImplementedError

    def close_file(self, handle: Any) -> None:
        """Finish the file."""
        raise NotImplementedError

    # -- Capture / WriteFile ----------------------------------------------------------
    def _set_capture(self, value: int) -> None:
        self.capturing = bool(value)
        self.pvs.set_with_rbv(self.pv("Capture"), value)

    def _put_capture(self, value: int) -> None:
        mode = int(self.pvs.get(self.pv("FileWriteMode")))
        if not value:
            self.stop_capture()
            return
        if self.capturing:
            self.pvs.set(self.pv("Capture_RBV"), 1)
            return
        if mode == SINGLE:
            self.error("ERROR: capture not supported in Single mode")
            self._set_capture(0)
        elif mode == CAPTURE:
            self._start_buffering()
        else:
            self._start_stream()

    def _start_buffering(self) -> None:
        if int(self.pvs.get(self.pv("NumCapture"))) <= 0:
            self.error("ERROR: NumCapture must be > 0 in Capture mode")
            self._set_capture(0)
            return
        info = self.last_info()
        if info is None:
            self.error("ERROR: No arrays collected: cannot allocate capture buffer")
            self._set_capture(0)
            return
        self.init_info = info
        self.capture_buffer = []
        self.pvs.set(self.pv("NumCaptured_RBV"), 0)
        self._set_capture(1)

    def _start_stream(self) -> None:
        lazy = bool(self.pvs.get(self.pv("LazyOpen")))
        info = self.last_info()
        if info is None and not lazy:
            self.error("ERROR, must collect an array to get dimensions first")
            self._set_capture(0)
            return
        if self.multiple_arrays and not lazy and not self.open_for(info):
            self._set_capture(0)
            return
        self.pvs.set(self.pv("NumCaptured_RBV"), 0)
        self.pvs.set(self.pv("WriteFile_RBV"), 1)
        self._set_capture(1)

    def stop_capture(self) -> None:
        """Capture = 0: close a stream; a capture buffer is kept for WriteFile."""
        self.pvs.flush()
        mode = int(self.pvs.get(self.pv("FileWriteMode")))
        if mode == STREAM and self.multiple_arrays:
            self.close()
        if mode == STREAM:
            self.pvs.set_if_changed(self.pv("WriteFile_RBV"), 0)
        self._set_capture(0)

    def _put_write_file(self, value: int) -> None:
        if not value:
            self.pvs.set(self.pv("WriteFile_RBV"), 0)
            return
        mode = int(self.pvs.get(self.pv("FileWriteMode")))
        self.pvs.set(self.pv("WriteFile_RBV"), 1)
        if mode == SINGLE:
            if self.last_array is None:
                self.error("ERROR, must collect an array to get dimensions first")
            else:
                self.write_single(self.last_array)
        elif mode == CAPTURE:
            self.write_buffer()
        self._reset_busy("WriteFile")

    def _put_read_file(self, value: int) -> None:
        if value:
            self.error("ReadFile is not supported by the sim IOC")
        self._reset_busy("ReadFile")

    def _reset_busy(self, name: str) -> None:
        """Back to Done once the put (a blocking record) has completed, as a busy record."""
        self.pvs.set(self.pv(name + "_RBV"), 0)
        asyncio.get_running_loop().call_soon(self.pvs.set_if_changed, self.pv(name), 0)

    # -- frames -----------------------------------------------------------------------
    def process(self, array: NDArray) -> None:
        """NDPluginFile.processCallbacks: save according to FileWriteMode."""
        mode = int(self.pvs.get(self.pv("FileWriteMode")))
        if mode == SINGLE:
            if int(self.pvs.get(self.pv("AutoSave"))):
                self.count_array()
                self.write_single(array)
        elif mode == CAPTURE:
            self._buffer_frame(array)
        elif self.capturing:
            self.count_array()
            self._stream_frame(array)

    def _info(self, array: NDArray) -> tuple[tuple[int, ...], np.dtype]:
        return array.data.shape, array.data.dtype

    def write_single(self, array: NDArray) -> None:
        """One frame, one file (Single mode)."""
        self.pvs.set(self.pv("NumCaptured_RBV"), 1)
        if self.open_for(self._info(array)):
            self.write_one(array)
            self.close()

    def _buffer_frame(self, array: NDArray) -> None:
        if not self.capturing:
            return
        limit = int(self.pvs.get(self.pv("NumCapture")))
        if len(self.capture_buffer) < limit and self._valid(array):
            self.capture_buffer.append(array)
            self.count_array()
            self.pvs.set(self.pv("NumCaptured_RBV"), len(self.capture_buffer), sync=False)
        if len(self.capture_buffer) >= limit:
            self.pvs.flush()
            if int(self.pvs.get(self.pv("AutoSave"))):
                self.write_buffer()
            self._set_capture(0)

    def write_buffer(self) -> None:
        """Write the capture buffer: one file (HDF5) or one file per frame (TIFF)."""
        frames, self.capture_buffer = self.capture_buffer, []
        if not frames:
            self.error("ERROR, no capture buffer present")
            return
        self.pvs.set(self.pv("WriteFile_RBV"), 1)
        if self.multiple_arrays:
            if self.open_for(self._info(frames[0])):
                for frame in frames:
                    if not self.write_one(frame):
                        break
                self.close()
        else:
            for frame in frames:
                if not self.open_for(self._info(frame)):
                    break
                ok = self.write_one(frame)
                self.close()
                if not ok:
                    break
        self.pvs.set(self.pv("NumCaptured_RBV"), 0)
        self.pvs.set(self.pv("WriteFile_RBV"), 0)

    def _valid(self, array: NDArray) -> bool:
        """AD's isFrameValid: same size and data type as the frame the file was set up for."""
        return self.init_info is None or self.init_info == self._info(array)

    def _stream_frame(self, array: NDArray) -> None:
        lazy_first = self.open_file is None and int(self.pvs.get(self.pv("NumCaptured_RBV"))) == 0
        needs_open = not self.multiple_arrays or lazy_first
        if needs_open and not self.open_for(self._info(array)):
            self._after_stream_frame(written=False)
            return
        if not self._valid(array):
            self.error("Invalid frame. Ignoring.")
            written = False
        else:
            written = self.write_one(array)
        if not self.multiple_arrays:
            self.close()
        self._after_stream_frame(written)

    def _after_stream_frame(self, written: bool) -> None:
        captured = int(self.pvs.get(self.pv("NumCaptured_RBV"))) + int(written)
        if written:
            self.pvs.set(self.pv("NumCaptured_RBV"), captured, sync=False)
        if captured == int(self.pvs.get(self.pv("NumCapture"))):
            self.stop_capture()

    def stop(self) -> None:
        """IOC shutdown: close the stream so the file is complete and valid."""
        self.close()


def _inside(path: Path, directory: Path) -> bool:
    """Whether ``path`` (normalised, symlinks not followed) is below ``directory``."""
    top = os.path.normpath(directory)
    return os.path.normpath(path).startswith(top.rstrip(os.sep) + os.sep)


class HDF5Plugin(FilePluginBase):
    """NDFileHDF5 with AD's default layout: frames stacked on axis 0 of /entry/data/data.

    ``NumFramesChunks`` frames make one chunk (0 counts as 1). With ``SWMRMode`` On the file
    is opened for single-writer/multiple-reader access (``SWMRActive_RBV`` shows it), and
    what was written becomes visible to readers at each ``FlushNow`` put (a busy record:
    the put completes once the file is flushed), every ``NumFramesFlush`` frames (0: never)
    and at the close. Without SWMR a ``FlushNow`` flushes the file as well.
    """

    plugin_type = "NDFileHDF5"
    multiple_arrays = True

    def initial_values(self, source_port: str) -> dict[str, object]:
        """HDF5 defaults: ophyd's template, ``.h5``; SWMR supported, off."""
        values = super().initial_values(source_port)
        values[self.pv("FileTemplate")] = "%s%s_%6.6d.h5"
        values[self.pv("FileTemplate_RBV")] = "%s%s_%6.6d.h5"
        if self.pv("SWMRSupported_RBV") in self.pvs.specs:
            values[self.pv("SWMRSupported_RBV")] = 1
        return values

    def register(self) -> None:
        """Also own ``FlushNow``."""
        super().register()
        if self.pv("FlushNow") in self.pvs.specs:
            self.pvs.on_put(self.pv("FlushNow"), self._put_flush_now)
            self.pvs.blocking(self.pv("FlushNow"))

    def _put_flush_now(self, value: int) -> None:
        if value and self.open_file is not None:
            try:
                self.open_file.flush()
            except (OSError, ValueError) as exc:
                self.error(f"Error flushing file: {exc}")
        if value:  # a busy record: back to Done once the put has completed
            loop = asyncio.get_running_loop()
            loop.call_soon(self.pvs.set_if_changed, self.pv("FlushNow"), 0)

    def _setting(self, name: str, default: int = 0) -> int:
        return int(self.pvs.get(self.pv(name))) if self.pv(name) in self.pvs.specs else default

    def create_file(self, host_path: Path, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """An HDF5 file with a resizable ``(0, y, x)`` dataset of ``NumFramesChunks`` chunks."""
        writer = _HDF5Writer(
            host_path,
            shape,
            dtype,
            frames_per_chunk=max(self._setting("NumFramesChunks_RBV"), 1),
            swmr=bool(self._setting("SWMRMode_RBV")),
        )
        self.pvs.set_if_present(self.pv("SWMRActive_RBV"), int(writer.swmr))
        return writer

    def write_frame(self, handle: Any, array: NDArray) -> None:
        """Append along axis 0 and remember the frame's unique id and time stamp."""
        handle.append(array)
        every = self._setting("NumFramesFlush_RBV")
        if handle.swmr and every > 0 and handle.frames % every == 0:
            handle.flush()

    def close_file(self, handle: Any) -> None:
        """Write the per-frame attributes and close (flushes everything)."""
        try:
            handle.close()
        finally:
            self.pvs.set_if_present(self.pv("SWMRActive_RBV"), 0)


class _HDF5Writer:
    """One open HDF5 file in AD's default layout."""

    def __init__(
        self,
        host_path: Path,
        shape: tuple[int, ...],
        dtype: np.dtype,
        *,
        frames_per_chunk: int = 1,
        swmr: bool = False,
    ) -> None:
        import h5py

        self.file = h5py.File(host_path, "w", libver="latest")
        try:
            entry = self.file.create_group("entry")
            entry.attrs["NX_class"] = "NXentry"
            data_group = entry.create_group("data")
            data_group.attrs["NX_class"] = "NXdata"
            self.data = data_group.create_dataset(
                "data",
                shape=(0, *shape),
                maxshape=(None, *shape),
                chunks=(frames_per_chunk, *shape),
                dtype=dtype,
            )
            self.data.attrs["signal"] = 1
            instrument = entry.create_group("instrument")
            instrument.attrs["NX_class"] = "NXinstrument"
            detector = instrument.create_group("detector")
            detector.attrs["NX_class"] = "NXdetector"
            detector["data"] = self.data  # a hard link, as AD's default layout has
            attributes = instrument.create_group("NDAttributes")
            attributes.attrs["NX_class"] = "NXcollection"
            # Created now, filled at each flush: no dataset may be created once SWMR is on.
            self.attributes = {
                name: attributes.create_dataset(
                    name, shape=(0,), maxshape=(None,), chunks=(16384,), dtype=kind
                )
                for name, kind in (("NDArrayUniqueId", "i4"), ("NDArrayTimeStamp", "f8"))
            }
            if swmr:
                self.file.swmr_mode = True
        except Exception:
            self.file.close()
            raise
        self.swmr = swmr
        self.frame_shape = tuple(shape)
        self.frames_per_chunk = frames_per_chunk
        self.unique_ids: list[int] = []
        self.timestamps: list[float] = []

    @property
    def frames(self) -> int:
        """How many frames were appended."""
        return len(self.unique_ids)

    def append(self, array: NDArray) -> None:
        """One more frame on axis 0."""
        n = len(self.unique_ids)
        frame = np.ascontiguousarray(array.data, dtype=self.data.dtype)
        self.data.id.set_extent((n + 1, *self.frame_shape))
        if self.frames_per_chunk == 1:
            # Low-level calls: one chunk per frame, no filters, so the chunk is written as
            # is. h5py's resize() and selection path cost ~6x more, too slow for 200 frames/s.
            self.data.id.write_direct_chunk((n, *([0] * frame.ndim)), frame.tobytes())
        else:
            self.data[n] = frame
        self.unique_ids.append(array.unique_id)
        self.timestamps.append(array.timestamp)

    def flush(self) -> None:
        """Per-frame attributes up to date, then everything to disk (visible to readers)."""
        n = len(self.unique_ids)
        for name, values in (
            ("NDArrayUniqueId", self.unique_ids),
            ("NDArrayTimeStamp", self.timestamps),
        ):
            dataset = self.attributes[name]
            done = dataset.shape[0]
            if done < n:
                dataset.resize((n,))
                dataset[done:n] = np.asarray(values[done:n], dtype=dataset.dtype)
        self.file.flush()

    def close(self) -> None:
        """NDAttributes datasets (one value per frame), then close."""
        try:
            self.flush()
        finally:
            self.file.close()


class TIFFPlugin(FilePluginBase):
    """NDFileTIFF: one frame per file, unique id in tag 65000 as AD writes it."""

    plugin_type = "NDFileTIFF"
    multiple_arrays = False

    def initial_values(self, source_port: str) -> dict[str, object]:
        """TIFF defaults."""
        values = super().initial_values(source_port)
        values[self.pv("FileTemplate")] = "%s%s_%6.6d.tiff"
        values[self.pv("FileTemplate_RBV")] = "%s%s_%6.6d.tiff"
        return values

    def create_file(self, host_path: Path, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """Open the file now so that open errors are reported like AD's."""
        return open(host_path, "wb")  # noqa: SIM115 - closed by close_file

    def write_frame(self, handle: Any, array: NDArray) -> None:
        """Write the single frame."""
        import tifffile

        tifffile.imwrite(
            handle,
            array.data,
            extratags=[(65000, 4, 1, array.unique_id & 0xFFFFFFFF, True)],
        )

    def close_file(self, handle: Any) -> None:
        """Close the file."""
        handle.close()
