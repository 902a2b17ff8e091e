"""Fast SMB reads: several READ requests in flight, replies received straight into buffers.

smbprotocol receives every reply whole (``bytes``), then copies it several times while it
parses it and checks its signature; one connection thus reads at about half the rate of the
``smbclient`` tool. Here a :class:`Receiver` takes the place of the transport's ``recv`` in
smbprotocol's receiving thread. For a successful READ reply that a :class:`ReadPipeline`
registered a buffer for, it receives the data with ``recv_into`` straight into that buffer and
computes the signature piece by piece as the bytes arrive (HMAC-SHA256, AES-CMAC or AES-GMAC,
as the connection negotiated); a reply whose signature does not match fails the connection
with a clear error, as smbprotocol's own check does. The thread is then given only the header
(its signature now checked), so smbprotocol still does the rest: credits, pending replies,
waking the waiting request. Every other message (and an encrypted one) is received whole and
handed on as before.

The receiver also stamps :attr:`Receiver.last_rx` whenever bytes arrive, so a stall watchdog
counts a large reply arriving slowly as progress.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import struct
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from smbprotocol.connection import SigningAlgorithms
from smbprotocol.exceptions import SMBException
from smbprotocol.header import Commands, Smb2Flags
from smbprotocol.open import SMB2ReadResponse

__all__ = ["ReadPipeline", "Receiver", "SignatureMismatch"]

#: The SMB2 header (64 bytes) and the fixed part of a READ response (16 bytes).
_PREFIX = 80
_SIGNATURE = slice(48, 64)
#: Bytes one SMB2 credit pays for.
_CREDIT_BYTES = 65536
_READ = int(Commands.SMB2_READ)
_SIGNED = int(Smb2Flags.SMB2_FLAGS_SIGNED)


class SignatureMismatch(SMBException):
    """A READ reply whose signature is not the one its bytes and the session key give."""


class _Sink:
    """Where one READ reply's data goes; ``filled`` is set (``-1`` until then) by the
    receiving thread once the data is in ``view`` and its signature checked."""

    __slots__ = ("filled", "view")

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.filled = -1


class Receiver:
    """The transport's ``recv`` for one smbprotocol connection (installed once, see
    :meth:`install`); runs in smbprotocol's receiving thread."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.transport = connection.transport
        self.last_rx = time.monotonic()
        #: (file id, offset) of a READ request -> where its reply's data goes
        self.sinks: dict[tuple[bytes, int], _Sink] = {}
        #: bytes of READ data received straight into a registered buffer (a statistic)
        self.received_into = 0

    @classmethod
    def install(cls, connection: Any) -> Receiver:
        receiver = getattr(connection, "_vfs_receiver", None)
        if receiver is None:
            receiver = cls(connection)
            connection._vfs_receiver = receiver
            connection.transport.recv = receiver.recv
        return receiver

    # -- the socket -------------------------------------------------------------------------
    def recv(self, timeout: Any) -> bytes:
        """One message (what ``Tcp.recv`` returns); ``b""`` when the socket closed."""
        # the idle wait (smbprotocol's keepalive echo runs on its TimeoutError) stays its own
        head, _ = self.transport._recv(4, timeout)
        if not head:
            return b""
        self.last_rx = time.monotonic()
        length = struct.unpack(">L", head)[0]
        first = bytearray(min(length, _PREFIX))
        if not self._fill(memoryview(first)):
            return b""
        found = self._sink_for(first, length)
        if found is None:
            rest = bytearray(length - len(first))
            if not self._fill(memoryview(rest)):
                return b""
            return bytes(first + rest)
        return self._receive_read(first, length, *found)

    def _fill(self, view: memoryview, mac: Any = None) -> bool:
        """Receive exactly ``len(view)`` bytes into ``view``; ``False`` if the socket closed.

        A blocking ``recv_into`` under the transport's close lock: closing the transport
        shuts the socket down first, which ends the wait.
        """
        transport = self.transport
        got = 0
        while got < len(view):
            with transport._close_lock:
                if not transport.connected:
                    return False
                try:
                    n = transport._sock.recv_into(view[got:])
                except OSError:
                    n = 0
            if n == 0:
                transport.close()
                return False
            if mac is not None:
                mac.update(view[got : got + n])
            got += n
            self.last_rx = time.monotonic()
        return True

    # -- READ replies -----------------------------------------------------------------------
    def _sink_for(self, first: bytearray, length: int) -> tuple[_Sink, Any, int] | None:
        """The buffer registered for this reply (a successful, unencrypted, single READ
        reply whose data fits it), its request and the data offset; else ``None``."""
        if len(first) < _PREFIX or first[:4] != b"\xfeSMB":
            return None
        status, command, _, flags, next_command, message_id = struct.unpack_from(
            "<IHHIIQ", first, 8
        )
        if command != _READ or status != 0 or next_command != 0:
            return None
        request = self.connection.outstanding_requests.get(message_id)
        if request is None:
            return None
        sent = request.message["data"].get_value()
        offset = struct.unpack_from("<Q", sent, 8)[0]
        key = (bytes(sent[16:32]), offset)
        data_offset = first[66]
        data_length = struct.unpack_from("<I", first, 68)[0]
        if data_offset < _PREFIX or data_offset + data_length > length:
            return None
        sink = self.sinks.pop(key, None)  # the reader may have given it up meanwhile
        if sink is None:
            return None
        if data_length > len(sink.view):
            self.sinks[key] = sink  # not ours to take: smbprotocol receives it whole
            return None
        return sink, request, data_offset

    def _receive_read(
        self, first: bytearray, length: int, sink: _Sink, request: Any, at: int
    ) -> bytes:
        flags, message_id = struct.unpack_from("<I4xQ", first, 16)
        data_length = struct.unpack_from("<I", first, 68)[0]
        session = self.connection.session_table.get(request.session_id)
        mac = None
        if flags & _SIGNED:
            if session is None or not session.signing_key:
                raise SignatureMismatch(f"no signing key for session {request.session_id}")
            mac = _mac(self.connection, session.signing_key, message_id)
        elif session is not None and session.signing_required:
            raise SignatureMismatch("the server sent an unsigned READ reply on a signed session")
        expected = bytes(first[_SIGNATURE])
        if mac is not None:
            zeroed = bytearray(first)
            zeroed[_SIGNATURE] = bytes(16)
            mac.update(zeroed)
        parts = [
            memoryview(bytearray(at - _PREFIX)),  # padding before the data
            sink.view[:data_length],
            memoryview(bytearray(length - at - data_length)),  # anything after it
        ]
        for part in parts:
            if part and not self._fill(part, mac):
                return b""
        if mac is not None and not hmac.compare_digest(mac.finish(), expected):
            raise SignatureMismatch(
                f"SMB READ reply {message_id}: the server's signature does not match the "
                "data received (the data was changed on the way, or the session key is wrong)"
            )
        sink.filled = data_length
        self.received_into += data_length
        header = bytearray(first)
        # the signature is checked: smbprotocol is handed the header alone, marked unsigned
        struct.pack_into("<I", header, 16, flags & ~_SIGNED)
        struct.pack_into("<I", header, 68, 0)
        return bytes(header)


class _Mac:
    """A signature computed piece by piece: ``update`` then ``finish`` (16 bytes)."""

    def __init__(self, update: Callable[[Any], Any], finish: Callable[[], bytes]) -> None:
        self.update = update
        self.finish = finish


def _mac(connection: Any, key: bytes, message_id: int) -> _Mac:
    """The signing algorithm smbprotocol's ``_generate_signature`` would use, incremental."""
    dialect = connection.dialect
    if dialect >= 0x0311 and connection.signing_algorithm_id is not None:
        algorithm = connection.signing_algorithm_id
    elif dialect >= 0x0300:
        algorithm = SigningAlgorithms.AES_CMAC
    else:
        algorithm = SigningAlgorithms.HMAC_SHA256
    if algorithm == SigningAlgorithms.AES_GMAC:
        nonce = message_id.to_bytes(8, "little") + (1).to_bytes(4, "little")  # a response
        gmac = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()

        def finish_gmac() -> bytes:
            gmac.finalize()
            return bytes(gmac.tag)

        return _Mac(gmac.authenticate_additional_data, finish_gmac)
    if algorithm == SigningAlgorithms.AES_CMAC:
        c = cmac.CMAC(algorithms.AES(key))
        return _Mac(c.update, c.finalize)
    h = hmac.new(key, digestmod=hashlib.sha256)
    return _Mac(h.update, lambda: h.digest()[:16])


class ReadPipeline:
    """Reads ``[start, end)`` of an open SMB file in order, ``depth`` requests of ``chunk``
    bytes in flight.

    :meth:`next_block` returns the next piece as a view that stays valid until the next
    call. With ``reuse`` the pipeline owns ``depth`` buffers, so memory stays at
    ``depth × chunk`` whatever the file size; without it every reply gets a new buffer (the
    caller may keep the views).
    """

    def __init__(
        self,
        open_: Any,
        start: int,
        end: int,
        *,
        chunk: int = 4 << 20,
        depth: int = 4,
        reuse: bool = True,
    ) -> None:
        self._open = open_
        self._connection = open_.connection
        self._receiver = Receiver.install(self._connection)
        self._chunk = min(chunk, self._connection.max_read_size)
        self._depth = depth
        self._reuse = reuse
        # no more buffers than the file has chunks (a small file needs one)
        count = min(depth, -(-(end - start) // self._chunk)) if reuse else 0
        self._free = collections.deque(bytearray(self._chunk) for _ in range(max(0, count)))
        self._pending: collections.deque[tuple[Any, _Sink, int, int, tuple[bytes, int]]]
        self._pending = collections.deque()
        self._held: bytearray | None = None
        self._next = start
        self.end = end

    def next_block(self) -> memoryview:
        """The next piece (empty at ``end``); a short reply re-requests what it lacked."""
        self._recycle()
        self._send()
        if not self._pending:
            return memoryview(b"")
        request, sink, offset, size, key = self._pending.popleft()
        try:
            n = self._wait(request, sink)
        finally:
            self._receiver.sinks.pop(key, None)
        self._held = sink.view.obj  # type: ignore[assignment]
        if n < size:  # a short read: what follows is re-requested from where it stopped
            self.drain()
            self._next = offset + n
            if n == 0:
                self.end = offset  # the file is shorter now: it ends here
        return sink.view[:n]

    def _recycle(self) -> None:
        if self._held is not None and self._reuse:
            self._free.append(self._held)
        self._held = None

    def _send(self) -> None:
        connection = self._connection
        session = self._open.tree_connect.session
        window = connection.sequence_window
        while len(self._pending) < self._depth and self._next < self.end:
            if self._reuse and not self._free:
                break
            size = min(self._chunk, self.end - self._next)
            charge = (size - 1) // _CREDIT_BYTES + 1
            available = window["high"] - window["low"]
            if available < charge:
                if self._pending:
                    break  # replies bring credits back
                size = min(max(1, available) * _CREDIT_BYTES, size)
                charge = (size - 1) // _CREDIT_BYTES + 1
            buffer = self._free.popleft() if self._reuse else bytearray(size)
            message, _ = self._open.read(self._next, size, send=False)
            key = (bytes(message["file_id"].pack()), self._next)
            sink = _Sink(memoryview(buffer)[:size])
            self._receiver.sinks[key] = sink  # before the request: the reply may come at once
            try:
                request = connection.send(
                    message,
                    sid=session.session_id,
                    tid=self._open.tree_connect.tree_connect_id,
                    credit_request=charge * 2,  # grow the window until the pipeline fits
                )
            except BaseException:
                self._receiver.sinks.pop(key, None)
                if self._reuse:
                    self._free.append(buffer)
                raise
            self._pending.append((request, sink, self._next, size, key))
            self._next += size

    def _wait(self, request: Any, sink: _Sink) -> int:
        """The reply's data length, copying it into the sink when the receiver could not
        receive it there (an encrypted session)."""
        response = self._connection.receive(request)
        if sink.filled >= 0:
            return sink.filled
        reply = SMB2ReadResponse()
        reply.unpack(response["data"].get_value())
        data = reply["buffer"].get_value()
        sink.view[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Receive and drop the replies in flight (smbprotocol must see every reply)."""
        while self._pending:
            request, sink, _, _, key = self._pending.popleft()
            self._receiver.sinks.pop(key, None)
            try:
                self._connection.receive(request)
            except Exception:  # noqa: BLE001  # the reply is only being discarded
                pass
            if self._reuse:
                self._free.append(sink.view.obj)  # type: ignore[arg-type]

    def seek(self, offset: int) -> None:
        """Continue from ``offset`` (the replies in flight are received and dropped)."""
        self.drain()
        self._recycle()
        self._next = offset
