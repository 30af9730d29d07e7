"""The per-sync lock: a lease in the state store, renewed by a thread while a run lasts.

The lease names its holder (``host:pid:nonce``), host and pid, and expires unless renewed;
any process — a manual ``crmseg sync`` or a daemon on any host sharing the store — takes
it the same way. A lease whose holder ran on this host and whose process is gone is taken
over at once (a crash on this machine need not wait for the expiry).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from crmseg.errors import CrmsegError
from crmseg.state.store import Lease, StateStore

log = logging.getLogger(__name__)


class SyncLocked(CrmsegError):
    """Another run holds the sync's lease."""

    exit_code = 3

    def __init__(self, sync: str, lease: Lease) -> None:
        super().__init__(
            f"sync '{sync}' is already running: locked by {lease.holder} (host {lease.host}, pid "
            f"{lease.pid}) since {lease.acquired_at}, lease until {lease.expires_at}; not started"
        )
        self.lease = lease


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(lease: Lease) -> bool:
    """True when the holder ran on this host and its process no longer exists."""
    if lease.host != socket.gethostname():
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease_live(lease: Lease | None, now: str) -> bool:
    """Whether ``lease`` (None: no lease) is held by a run that may still be going: not expired
    at ``now`` (ISO UTC) and not left by a process gone from this host."""
    return lease is not None and lease.expires_at > now and not _dead_here(lease)


@contextmanager
def hold_lease(store: StateStore, sync: str, lease_s: float, holder: str | None = None) -> Iterator[str]:
    """Hold the sync's lease for the block (renewed every third of its length); SyncLocked if taken."""
    holder = holder or holder_id()
    host, pid = socket.gethostname(), os.getpid()
    current = store.acquire_lease(sync, holder, host, pid, lease_s)
    if current is not None and _dead_here(current):
        log.warning("sync %s: taking over the lease of %s (its process is gone)", sync, current.holder)
        current = store.acquire_lease(sync, holder, host, pid, lease_s, take_over=True)
    if current is not None:
        raise SyncLocked(sync, current)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease_s / 3.0):
            try:
                if not store.renew_lease(sync, holder, lease_s):
                    log.error("sync %s: lost the lease to another holder", sync)
                    return
            except Exception as exc:
                log.warning("sync %s: lease renewal failed: %s", sync, exc)

    thread = threading.Thread(target=renew, name=f"lease-{sync}", daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        done.set()
        thread.join(timeout=5)
        store.release_lease(sync, holder)
