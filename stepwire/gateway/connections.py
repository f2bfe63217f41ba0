"""The local gateway's connections, as a denial of service would use them (issue 22): waitress
keeps a connection that sends nothing, or a request head a byte at a time, open until its
`channel_timeout`, and 512 of them (its `connection_limit`) shut the API for everyone.

- a request's head (request line and headers) must arrive within HEAD_TIMEOUT seconds of its
  first byte, else the connection is closed;
- a connection idle between requests is closed after IDLE_TIMEOUT seconds (waitress's
  `channel_timeout`, checked every CLEANUP_INTERVAL seconds);
- one client address holds at most PER_CLIENT connections at once; more are closed as they
  are accepted. Loopback clients are not capped: they are this machine's own processes (a
  burst test, the console), which could stop the process anyway.
"""

import ipaddress
import time
from typing import Any

from waitress.channel import HTTPChannel

HEAD_TIMEOUT = 10.0
IDLE_TIMEOUT = 15
CLEANUP_INTERVAL = 1
PER_CLIENT = 32


class GuardedChannel(HTTPChannel):
    """A waitress channel that remembers when the request head it is reading began."""

    head_started: float | None = None

    def received(self, data: bytes) -> bool:
        if data and self.request is None:  # the first bytes of a new request
            self.head_started = time.time()
        return bool(super().received(data))

    def head_overdue(self, now: float, timeout: float) -> bool:
        request = self.request
        return (request is not None and not request.headers_finished
                and self.head_started is not None and now - self.head_started > timeout)


def guard_connections(server: Any, *, head_timeout: float = HEAD_TIMEOUT,
                      per_client: int = PER_CLIENT, cap_loopback: bool = False) -> Any:
    """Install the guards on a waitress server made by `waitress.create_server`
    (`cap_loopback`: count loopback clients too, for tests)."""
    waitress_maintenance = server.maintenance

    def channel(server_: Any, conn: Any, addr: Any, adj: Any, map: Any = None) -> Any:
        client = addr[0] if isinstance(addr, tuple) else addr
        if (cap_loopback or not _is_loopback(client)) and sum(
                1 for c in server_.active_channels.values()
                if (c.addr[0] if isinstance(c.addr, tuple) else c.addr) == client) >= per_client:
            conn.close()  # refused: this client already holds its share of connections
            return None
        return GuardedChannel(server_, conn, addr, adj, map=map)

    def maintenance(now: float) -> None:
        waitress_maintenance(now)
        for open_channel in list(server.active_channels.values()):
            if isinstance(open_channel, GuardedChannel) and open_channel.head_overdue(
                    now, head_timeout):
                open_channel.will_close = True  # closed by the loop at its next turn

    server.channel_class = channel
    server.maintenance = maintenance
    return server


def _is_loopback(address: Any) -> bool:
    try:
        return ipaddress.ip_address(str(address).split("%")[0]).is_loopback
    except ValueError:
        return False
