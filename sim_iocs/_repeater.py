"""A minimal CA repeater on loopback, run as a thread of a test process.

IOCs announce themselves with UDP beacons sent to the repeater port; the repeater hands
them to every registered CA client.  A beacon from a server the client has not seen
makes libca search again at once for every channel it has not found yet.  Without a
repeater (the pip wheels ship no ``caRepeater`` executable) a channel whose first
searches went unanswered can stay unconnected for tens of seconds, and libca prints
``The executable "caRepeater" couldn't be located``.

Protocol (CA repeater, as in EPICS base): a client registers by sending a 16-byte header
with command ``REPEATER_REGISTER`` (24) and gets ``REPEATER_CONFIRM`` (17) back; every
other datagram is forwarded to all registered clients, and a beacon
(``RSRV_IS_UP``, 13) whose address field is 0 gets the sender's address filled in.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

__all__ = ["CARepeater"]

_HEADER = struct.Struct("!HHHHII")
REPEATER_CONFIRM = 17
REPEATER_REGISTER = 24
RSRV_IS_UP = 13


class CARepeater:
    """Forward beacons to registered clients; ``start()`` runs it in a daemon thread."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.clients: set[tuple[str, int]] = set()
        self._thread = threading.Thread(target=self._serve, name="ca-repeater", daemon=True)

    def start(self) -> CARepeater:
        """Serve in the background until the process exits."""
        self._thread.start()
        return self

    def _serve(self) -> None:
        while True:
            try:
                data, sender = self.sock.recvfrom(65536)
            except OSError:
                return
            self.handle(data, sender)

    def handle(self, data: bytes, sender: tuple[str, int]) -> None:
        """Register a client, or forward a datagram to the clients."""
        if len(data) == 0 or (
            len(data) >= _HEADER.size and _HEADER.unpack_from(data)[0] == REPEATER_REGISTER
        ):
            self.clients.add(sender)
            address = struct.unpack("!I", socket.inet_aton(sender[0]))[0]
            confirm = _HEADER.pack(REPEATER_CONFIRM, 0, 0, 0, 0, address)
            with contextlib.suppress(OSError):
                self.sock.sendto(confirm, sender)
            return
        if len(data) >= _HEADER.size:
            fields = list(_HEADER.unpack_from(data))
            if fields[0] == RSRV_IS_UP and fields[5] == 0:
                fields[5] = struct.unpack("!I", socket.inet_aton(sender[0]))[0]
                data = _HEADER.pack(*fields) + data[_HEADER.size :]
        for client in list(self.clients):
            if client == sender:
                continue
            try:
                self.sock.sendto(data, client)
            except OSError:  # the client is gone
                self.clients.discard(client)
