"""Delivering webhook events: the courier thread, the HTTP client, and where events may go.

Each daemon runs one ``Courier``: it takes due events from the outbox (``ttvd.webhooks``), claims each
by a lock and a rename, POSTs it (no redirects, no proxy from the environment), deletes it on a 2xx and
reschedules it with backoff otherwise. Loopback, private and other non-public addresses are refused,
for the host's every address and again for the address actually connected to, unless
``TTVD_WEBHOOK_ALLOW_PRIVATE`` is on.
"""
from __future__ import annotations

import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ttvd import options
from ttvd.config import Settings
from ttvd.errors import NoSpaceError
from ttvd.spool import Spool
from ttvd.webhooks import Entry, Held, Outbox, Refused, Undelivered, body_of, headers_for, sweep

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0              # how often a courier looks for due events
BACKOFF_FIRST_SECONDS = 5.0     # the wait after the first failed delivery; doubled after each further one
BACKOFF_MAX_SECONDS = 3600.0
JITTER = 0.1                    # each wait is stretched or shrunk by up to this share, so retries spread out
BATCH = 50                      # deliveries per round at most, so a stop is noticed between rounds
SWEEP_SECONDS = 30.0            # how often a courier looks for finished jobs whose event was never written

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# -- where events may go ------------------------------------------------------------------------------

def forbidden(address: IPAddress) -> str | None:
    """Why ``address`` is no place to deliver to (loopback, private, ...); None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None)
        if embedded is not None:
            return forbidden(embedded)
    for reason, flag in (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
                         ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                         ("private", address.is_private), ("reserved", address.is_reserved),
                         ("non-public", not address.is_global)):
        if flag:
            return reason
    return None


def check_destination(url: str, allow_private: bool) -> None:
    """``Refused`` for a malformed URL, or (unless ``allow_private``) one whose host has any address
    that is not public; ``Undelivered`` when the host name does not resolve now."""
    try:
        options.url(url)
    except ValueError as exc:
        raise Refused(f"the callback URL {exc}") from None
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Undelivered(f"{host} does not resolve ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        reason = forbidden(address)
        if reason:
            raise Refused(f"{host} has a {reason} address ({address}); TTVD_WEBHOOK_ALLOW_PRIVATE=1 allows it")


def _check_peer(sock: socket.socket) -> None:
    address = ipaddress.ip_address(str(sock.getpeername()[0]).split("%")[0])
    reason = forbidden(address)
    if reason:
        sock.close()
        raise Refused(f"the connection reached a {reason} address ({address})")


class _CheckedHTTP(HTTPConnection):
    """Checks the address it actually connected to, so a name that resolves anew (DNS rebinding) is caught."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _CheckedHTTPS(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTP


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPS


class _PublicOnly(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def new_session(allow_private: bool) -> requests.Session:
    """A session that ignores proxy and netrc settings and, unless ``allow_private``, connects to public
    addresses only."""
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment, and no ~/.netrc credentials sent to receivers
    if not allow_private:
        session.mount("http://", _PublicOnly())
        session.mount("https://", _PublicOnly())
    return session


def post(session: requests.Session, entry: Entry, secret: str, timeout: float) -> None:
    """POST the event once; ``Undelivered`` unless a 2xx answers it (redirects are not followed)."""
    body = body_of(entry.event)
    try:
        with session.post(entry.url, data=body, headers=headers_for(entry.event, body, secret),
                          timeout=(timeout, timeout), allow_redirects=False, stream=True) as response:
            status = response.status_code
    except requests.Timeout:
        raise Undelivered("no answer in time") from None
    except requests.ConnectionError:
        raise Undelivered("cannot connect") from None
    except requests.RequestException as exc:  # the message may hold the URL and its query: name the type only
        raise Undelivered(f"the request failed ({type(exc).__name__})") from None
    if not 200 <= status < 300:
        raise Undelivered(f"HTTP {status}")


def backoff(attempts: int, first: float, most: float) -> float:
    """Seconds to wait after ``attempts`` failed deliveries: ``first``, doubled each time, at most ``most``."""
    return min(most, first * 2 ** min(attempts - 1, 40)) * random.uniform(1 - JITTER, 1 + JITTER)


# -- delivering ---------------------------------------------------------------------------------------

class Courier:
    """Delivers due events from the outbox, a round every ``POLL_SECONDS``, in a thread of its own."""

    def __init__(self, spool: Spool, settings: Settings, clock: Callable[[], float] = time.time,
                 backoff: tuple[float, float] | None = None, session: requests.Session | None = None) -> None:
        self.spool = spool
        self.settings = settings
        self.clock = clock
        self.outbox = Outbox(spool.home).ensure()
        self.backoff = backoff or (BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS)
        self.session = session or new_session(settings.webhook_allow_private)
        self.lease = max(settings.lease_seconds, 4 * settings.http_timeout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sweep = 0.0

    def start(self) -> Courier:
        self._thread = threading.Thread(target=self._loop, name="ttvd-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop after the delivery under way (waiting at most ``timeout``: a claim cut off is taken back later)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except (OSError, NoSpaceError) as exc:  # the claim in hand is taken back by a later round
                log.warning("webhook delivery round cut short: %s", exc)
            except Exception:  # the top of the loop: one bad round must not end deliveries
                log.exception("webhook delivery round failed")
            if self._stop.wait(POLL_SECONDS):
                return

    def run_once(self) -> int:
        """Take back dead claims, sweep when due, deliver the due events; how many were delivered."""
        now = self.clock()
        self.outbox.recover(self.lease)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            try:
                sweep(self.spool, self.settings, now)
            except (OSError, NoSpaceError) as exc:
                log.warning("webhook sweep postponed: %s", exc)
        delivered = 0
        for name in self.outbox.due(now)[:BATCH]:
            if self._stop.is_set():
                break
            held = self.outbox.claim(name)
            if held is not None:
                delivered += self._deliver(held)
        return delivered

    def _deliver(self, held: Held) -> int:
        try:
            entry = held.read()
        except (ValueError, TypeError, KeyError) as exc:
            log.error("webhook event %s cannot be read (%s): moved to spool/outbox/failed/", held.path.name, exc)
            held.set_aside()
            return 0
        if entry.due_at > self.clock():  # put back early by a recovery: wait under its own name
            held.move(entry, self.outbox.root)
            return 0
        entry.attempts += 1
        try:
            check_destination(entry.url, self.settings.webhook_allow_private)
            post(self.session, entry, self.settings.webhook_secret, self.settings.http_timeout)
        except Refused as exc:
            return self._give_up(held, entry, str(exc))
        except Undelivered as exc:
            return self._retry(held, entry, str(exc))
        held.move(entry, None)
        log.info("job %s: %s event delivered to %s (attempt %d)", entry.job_id, entry.event["event"],
                 urlsplit(entry.url).hostname, entry.attempts)
        return 1

    def _retry(self, held: Held, entry: Entry, reason: str) -> int:
        if entry.attempts >= self.settings.webhook_max_attempts:
            return self._give_up(held, entry, f"{reason}, after {entry.attempts} attempts")
        entry.last_error = reason
        wait = backoff(entry.attempts, *self.backoff)
        entry.due_at = self.clock() + wait
        held.move(entry, self.outbox.root)
        log.warning("job %s: %s event not delivered to %s (%s); attempt %d in %.1f s", entry.job_id,
                    entry.event["event"], urlsplit(entry.url).hostname, reason, entry.attempts + 1, wait)
        return 0

    def _give_up(self, held: Held, entry: Entry, reason: str) -> int:
        entry.last_error = reason
        held.move(entry, self.outbox.failed)
        log.error("job %s: %s event given up (%s); kept in spool/outbox/failed/%s", entry.job_id,
                  entry.event["event"], reason, entry.name)
        return 0
