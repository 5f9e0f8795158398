"""systemd's notify protocol (``Type=notify``), without a dependency: datagrams on the unix
socket named by ``$NOTIFY_SOCKET``.

``READY=1`` goes out once the engines are loaded and the port is bound, so ``systemctl start``
returns when calls can be answered. ``WATCHDOG=1`` is sent from a Trio task: if the event loop
stalls (a blocking call on it), the pings stop and systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import socket

import trio

log = logging.getLogger("voiced.systemd")


def notify(*states: str) -> bool:
    """Send ``states`` ("READY=1", "STATUS=...") to systemd; False when not run by it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
    except OSError as exc:
        log.warning("systemd notification failed: %s", exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Half the ``WatchdogSec=`` systemd gave this process, or None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None


async def watchdog() -> None:
    """Ping systemd's watchdog for as long as the event loop runs."""
    interval = watchdog_interval()
    if interval is None:
        return
    log.info("systemd watchdog: pinging every %.1fs", interval)
    while True:
        notify("WATCHDOG=1")
        await trio.sleep(interval)
