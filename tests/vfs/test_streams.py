"""The shared streaming-reader base (``backends._streams``) and object-store upload file
(``backends._objectstore``), on small in-memory subclasses: no server needed."""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Iterator
from typing import Any

import pytest

from filestore_vfs.vfs.backends._network import ForwardStream
from filestore_vfs.vfs.backends._objectstore import ObjectStoreRoot, ObjectUploadFile
from filestore_vfs.vfs.backends._streams import ChunkedStream, StreamReader, read_upto

DATA = bytes(range(256)) * 4  # 1024 bytes


class MemoryStream(StreamReader):
    """``readinto`` from a bytes object; the size is known, or fetched (and counted)."""

    def __init__(self, data: bytes = DATA, offset: int = 0, known_size: bool = True) -> None:
        super().__init__(offset, len(data) if known_size else None)
        self.data = data
        self.fetches = 0

    def _fetch_size(self) -> int:
        self.fetches += 1
        return len(self.data)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        piece = self.data[self._pos : self._pos + len(view)]
        view[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)


class MemoryChunks(ChunkedStream):
    """Chunks of ``chunk`` bytes, as a server would send them; counts the chunks received."""

    def __init__(self, data: bytes = DATA, chunk: int = 100, offset: int = 0) -> None:
        super().__init__(offset, len(data))
        self.data = data
        self.chunk = chunk
        self.received = 0

    def _next_chunk(self) -> bool:
        piece = self.data[self._pos : self._pos + self.chunk]
        if not piece:
            return False
        self.received += 1
        self._buf = memoryview(piece)
        return True


class MemoryForward(ForwardStream):
    """A one-request stream: records each request it opens and each it drops."""

    def __init__(self, data: bytes = DATA, offset: int = 0) -> None:
        super().__init__(offset)
        self.data = data
        self.opened: list[int] = []
        self.dropped = 0
        self._open = False

    def _fetch_size(self) -> int:
        return len(self.data)

    def _drop(self) -> None:
        self.dropped += 1
        self._open = False

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not self._open:
            if self._pos >= self._total():
                return 0
            self.opened.append(self._pos)
            self._open = True
        piece = self.data[self._pos : self._pos + len(view)]
        view[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)


READERS = [MemoryStream, MemoryChunks, MemoryForward]


# -- the base: position, seek, tell --------------------------------------------------------
@pytest.mark.parametrize("cls", READERS)
def test_readable_seekable_not_writable(cls: type[StreamReader]) -> None:
    with cls() as f:
        assert f.readable() and f.seekable() and not f.writable()
        assert f.tell() == 0


@pytest.mark.parametrize("cls", READERS)
@pytest.mark.parametrize(
    ("start", "offset", "whence", "expected"),
    [
        (0, 10, io.SEEK_SET, 10),
        (500, 10, io.SEEK_SET, 10),
        (500, 10, io.SEEK_CUR, 510),
        (500, -10, io.SEEK_CUR, 490),
        (500, 0, io.SEEK_CUR, 500),
        (0, 0, io.SEEK_END, len(DATA)),
        (0, -24, io.SEEK_END, len(DATA) - 24),
        # a negative target clamps to 0 rather than failing
        (0, -5, io.SEEK_SET, 0),
        (500, -600, io.SEEK_CUR, 0),
        (0, -5000, io.SEEK_END, 0),
        # past the end is allowed
        (0, 5000, io.SEEK_SET, 5000),
        (0, 10, io.SEEK_END, len(DATA) + 10),
    ],
)
def test_seek_whence_and_clamping(
    cls: type[StreamReader], start: int, offset: int, whence: int, expected: int
) -> None:
    with cls() as f:
        f.seek(start)
        assert f.seek(offset, whence) == expected
        assert f.tell() == expected
        assert f.read(8) == DATA[expected : expected + 8]


@pytest.mark.parametrize("cls", READERS)
def test_invalid_whence_is_a_value_error(cls: type[StreamReader]) -> None:
    with cls() as f, pytest.raises(ValueError, match="whence"):
        f.seek(0, 3)


@pytest.mark.parametrize("cls", READERS)
def test_past_the_end_reads_nothing(cls: type[StreamReader]) -> None:
    with cls() as f:
        f.seek(len(DATA) + 100)
        assert f.read(10) == b""
        assert f.read() == b""
        assert f.readinto(bytearray(10)) == 0
        assert f.tell() == len(DATA) + 100
        f.seek(-4, io.SEEK_END)  # and back again
        assert f.read() == DATA[-4:]


@pytest.mark.parametrize("cls", READERS)
def test_tell_after_reads(cls: type[StreamReader]) -> None:
    with cls() as f:
        assert f.read(10) == DATA[:10]
        assert f.tell() == 10
        f.seek(5, io.SEEK_CUR)
        assert f.read(250) == DATA[15:265]
        assert f.tell() == 265
        assert f.read() == DATA[265:]
        assert f.tell() == len(DATA)


@pytest.mark.parametrize("cls", READERS)
def test_readinto(cls: type[StreamReader]) -> None:
    with cls() as f:
        f.seek(1000)
        buf = bytearray(100)
        n = f.readinto(buf)
        assert n == 24 and bytes(buf[:n]) == DATA[1000:]
        f.seek(3)
        out = bytearray()
        while n := f.readinto(buf):
            out += buf[:n]
        assert bytes(out) == DATA[3:]


@pytest.mark.parametrize("cls", READERS)
def test_readall_and_buffered(cls: type[StreamReader]) -> None:
    with cls(offset=17) as f:
        f.chunk_size = 64
        assert f.readall() == DATA[17:]
    with io.BufferedReader(cls(), buffer_size=64) as b:
        b.seek(-30, io.SEEK_END)
        assert b.read() == DATA[-30:]
        b.seek(2)
        assert b.read(5) == DATA[2:7]


def test_offset_at_construction_and_negative_offset() -> None:
    assert MemoryStream(offset=40).read(4) == DATA[40:44]
    assert MemoryStream(offset=-3).tell() == 0


def test_size_is_fetched_once_and_only_when_needed() -> None:
    f = MemoryStream(known_size=False)
    f.seek(10)
    f.seek(5, io.SEEK_CUR)
    assert f.fetches == 0  # absolute and relative seeks need no size
    assert f.seek(-1, io.SEEK_END) == len(DATA) - 1
    assert f.seek(-2, io.SEEK_END) == len(DATA) - 2
    assert f.fetches == 1


def test_chunked_stream_spans_chunks_and_reads_each_once() -> None:
    f = MemoryChunks(chunk=100)
    assert f.read(250) == DATA[:250]  # parts of three chunks
    assert f.read(50) == DATA[250:300]  # the rest of the third one
    assert f.received == 3
    buf = bytearray(1000)
    assert f.readinto(buf) == len(DATA) - 300
    assert bytes(buf[: len(DATA) - 300]) == DATA[300:]
    assert f.received == 11


def test_forward_stream_drops_its_request_only_when_the_position_changes() -> None:
    f = MemoryForward()
    assert f.read(10) == DATA[:10]
    f.seek(10)
    f.seek(0, io.SEEK_CUR)
    assert f.dropped == 0  # same position: the open request still serves
    assert f.read(10) == DATA[10:20]
    f.seek(100)
    assert f.dropped == 1
    assert f.read(10) == DATA[100:110]
    assert f.opened == [0, 100]  # a new request where the seek went


async def test_read_upto_joins_short_reads_until_size_or_end() -> None:
    class Body:
        def __init__(self, pieces: list[bytes]) -> None:
            self.pieces = pieces

        async def read(self, n: int) -> bytes:
            return self.pieces.pop(0)[:n] if self.pieces else b""

    assert await read_upto(Body([b"ab", b"cd", b"ef"]), 5) == b"abcde"
    assert await read_upto(Body([b"ab", b"c"]), 10) == b"abc"
    assert await read_upto(Body([]), 10) == b""


# -- every streaming reader of the backends is one of these ----------------------------------
@pytest.mark.parametrize(
    ("module", "name", "base"),
    [
        ("filestore_vfs.vfs.backends._network", "ResilientReader", StreamReader),
        ("filestore_vfs.vfs.backends._network", "ForwardStream", StreamReader),
        ("filestore_vfs.vfs.backends.s3", "S3Stream", ForwardStream),
        ("filestore_vfs.vfs.backends.s3", "S3Ranges", StreamReader),
        ("filestore_vfs.vfs.backends.azure", "BlobStream", ForwardStream),
        ("filestore_vfs.vfs.backends.azure", "BlobStream", ChunkedStream),
        ("filestore_vfs.vfs.backends.http", "_StreamReader", StreamReader),
        ("filestore_vfs.vfs.backends.smb", "_PipelinedReader", ChunkedStream),
        ("filestore_vfs.vfs.backends.redis", "RedisReader", StreamReader),
        ("filestore_vfs.vfs.backends.s3", "DirectUploadFile", ObjectUploadFile),
        ("filestore_vfs.vfs.backends.azure", "BlockUploadFile", ObjectUploadFile),
        ("filestore_vfs.vfs.backends.s3", "S3File", ObjectStoreRoot),
        ("filestore_vfs.vfs.backends.azure", "AzureBlobFile", ObjectStoreRoot),
    ],
)
def test_backend_classes_use_the_shared_bases(module: str, name: str, base: type) -> None:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # an optional extra that is not installed
        pytest.skip(f"{module}: {exc}")
    cls = getattr(mod, name)
    assert issubclass(cls, base)
    assert issubclass(cls, StreamReader) or base in (ObjectUploadFile, ObjectStoreRoot)


# -- the object-store upload file ------------------------------------------------------------
class FakeUpload(io.BytesIO):
    """A raw upload: ``close`` is the completion, ``discard`` the cancellation."""

    def __init__(self, fail_write: bool = False, fail_close: bool = False) -> None:
        super().__init__()
        self.events: list[str] = []
        self.fail_write = fail_write
        self.fail_close = fail_close

    def write(self, data: Any) -> int:
        if self.fail_write:
            raise RuntimeError("part upload failed")
        return super().write(data)

    def close(self) -> None:
        if not self.closed:
            self.events.append("complete")
            if self.fail_close:
                raise RuntimeError("completion failed")
        super().close()


def _upload(raw: FakeUpload, **kw: Any) -> ObjectUploadFile:
    @contextlib.contextmanager
    def translate() -> Iterator[None]:
        try:
            yield
        except RuntimeError as exc:
            raise OSError(5, f"translated: {exc}") from exc

    return ObjectUploadFile(
        raw,
        name="/store/x.bin",
        commit=lambda: raw.events.append("commit"),
        discard=lambda: raw.events.append("discard"),
        release=lambda: raw.events.append("release"),
        translate=translate,
        **kw,
    )


def test_upload_close_completes_once() -> None:
    raw = FakeUpload()
    f = _upload(raw)
    assert f.write(b"abc") == 3
    f.close()
    f.close()
    assert raw.events == ["complete", "commit", "release"]


def test_upload_abort_cancels_without_completing() -> None:
    raw = FakeUpload()
    with pytest.raises(KeyError), _upload(raw) as f:
        f.write(b"abc")
        raise KeyError("the caller failed")
    assert raw.events == ["discard", "release"]
    assert f.closed


def test_upload_errors_are_translated_and_a_failed_completion_discards() -> None:
    f = _upload(FakeUpload(fail_write=True))
    with pytest.raises(OSError, match="translated: part upload failed"):
        f.write(b"abc")
    f.abort()
    raw = FakeUpload(fail_close=True)
    with pytest.raises(OSError, match="translated: completion failed"):
        _upload(raw).close()
    assert raw.events == ["complete", "discard", "release"]


def test_upload_before_commit_failure_aborts() -> None:
    raw = FakeUpload()

    def lost() -> None:
        raise PermissionError(13, "lease lost")

    f = _upload(raw, before_commit=lost)
    f.write(b"abc")
    with pytest.raises(PermissionError, match="lease lost"):
        f.close()
    assert raw.events == ["discard", "release"]
    assert f.closed
