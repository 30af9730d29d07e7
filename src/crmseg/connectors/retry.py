"""The one retry/rate-limit policy and error mapping every connector uses.

- :func:`http_error` turns a CRM answer (status, error code, detail, Retry-After) into
  the crmseg error that says what to do next (retry, re-authenticate, abort, fix config).
  A 401 is a refusal of the credentials (:class:`~crmseg.errors.AuthRefusedError`, never
  retried, naming the environment variable they came from) unless its code says the session
  expired (``INVALID_SESSION_ID``, ``EXPIRED_AUTHENTICATION``): then re-authenticate once.
- :func:`network_error` turns a failed connection into an error naming host:port: no
  connection at all (refused, DNS, connect timeout) is :class:`~crmseg.errors.CrmUnreachableError`,
  retried :attr:`RetryPolicy.unreachable_tries` times with short waits; a read timeout or a
  dropped connection is an ordinary retriable error.
- :class:`RetryPolicy` runs one call: exponential backoff with full jitter, max tries and
  max total wait, ``Retry-After`` honored, an expired session -> re-authenticate once then
  retry. Built on tenacity; the sleep function is injectable so tests never wait.
- :meth:`RetryPolicy.pause` is the one wait a connector makes (back-off, rate windows, bulk
  job polls): it ends at once with :class:`~crmseg.errors.StopRequested` when the run's stop
  event is set, so a signal never waits out a long ``Retry-After``.
- :func:`paginate` walks a cursor-paged endpoint lazily, each page fetched through the policy;
  :class:`CursorWalk` refuses a cursor the walk has already followed (a CRM answering the same
  ``after`` / ``nextRecordsUrl`` twice would otherwise make the read loop forever).

Messages name the CRM, object, operation and status; every message passes through a
:class:`Redactor` holding the run's secrets, so a token never reaches a log or an error.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import socket
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from crmseg.errors import (
    AuthExpiredError,
    AuthRefusedError,
    ConfigError,
    CrmsegError,
    CrmUnavailableError,
    CrmUnreachableError,
    FatalError,
    RetriableError,
    StopRequested,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
C = TypeVar("C", bound=Hashable)
E = TypeVar("E", bound=BaseException)

#: Error codes that, with HTTP 403, mean "the org's API allowance is spent" (Salesforce): abort.
LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "TOTAL_REQUESTS_LIMIT_EXCEEDED"})
#: Rate-limit policies that mean the daily cap is spent (HubSpot 429 ``policyName``): abort.
DAILY_POLICIES = frozenset({"DAILY"})
#: Error codes that mean the mapping/config names something the CRM lacks.
CONFIG_CODES = frozenset({"INVALID_FIELD", "INVALID_TYPE", "INVALID_FIELD_FOR_INSERT_UPDATE", "PROPERTY_DOESNT_EXIST"})
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: 401 codes that mean "the session expired" (re-authenticate once), not "wrong credentials".
SESSION_EXPIRED_CODES = frozenset({"INVALID_SESSION_ID", "EXPIRED_AUTHENTICATION"})
#: 403 codes that refuse the credentials themselves (not a limit, not one record's access).
REFUSED_403_CODES = frozenset(
    {"INVALID_AUTHENTICATION", "MISSING_SCOPES", "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"}
)
#: How messages spell each CRM's name.
VENDORS = {"hubspot": "HubSpot", "salesforce": "Salesforce"}


@dataclass(frozen=True)
class Op:
    """What a call does, for messages: ``salesforce Account query``."""

    crm: str
    object: str
    operation: str

    def __str__(self) -> str:
        return f"{self.crm} {self.object} {self.operation}"


class Redactor:
    """Replaces every known secret in a text with ``***`` — whole tokens only.

    A secret is masked where it is not part of a longer word (letters, digits, ``_`` on
    neither side), as written or URL-encoded; so a short secret that is also an ordinary
    word ("sandbox") does not blank that word out of "sandboxes" or "__sandbox/stats".
    Secrets shorter than 4 characters are not masked (they would mask noise)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        from urllib.parse import quote, quote_plus

        for s in secrets:
            if s and len(s) >= 4:
                for form in (s, quote(s, safe=""), quote_plus(s)):
                    if form not in self._secrets:
                        self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)
        alternatives = "|".join(re.escape(s) for s in self._secrets)
        self._pattern = re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])") if alternatives else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub("***", text)

    def scrub(self, err: E) -> E:
        """Redact an exception's message in place and return it."""
        err.args = tuple(self(a) if isinstance(a, str) else a for a in err.args)
        return err


def http_error(
    op: Op,
    status: int | None,
    code: str | None = None,
    detail: str | None = None,
    retry_after: float | None = None,
    credential: str | None = None,
) -> CrmsegError:
    """The crmseg error for a failed CRM call (status None: no answer at all).

    ``credential`` says where the call's credentials came from (``the access token in
    HUBSPOT_ACCESS_TOKEN``), for the message when the CRM refuses them; never a value."""
    label = f"HTTP {status}" if status else "no response"
    text = f"{op}: {label}" + (f" {code}" if code else "") + (f": {_short(detail)}" if detail else "")
    err: CrmsegError
    if status is None or status == 0:
        return RetriableError(text, retry_after)
    if status == 401 and code in SESSION_EXPIRED_CODES:
        err = AuthExpiredError(text, 0.0)
    elif status == 401 or (status == 403 and code in REFUSED_403_CODES):
        err = auth_refused(op, f"{status} {_phrase(status)}", code, None if status == 401 else detail, credential)
    elif (status == 403 and code in LIMIT_CODES) or code in DAILY_POLICIES:
        err = FatalError(f"{text} (the CRM's API limit is exhausted; try again after it resets)")
    elif status in _RETRY_STATUS or status >= 500:
        err = RetriableError(text, retry_after)
    elif code in CONFIG_CODES:
        err = ConfigError(f"{text} (check the mapping)")
    else:
        err = FatalError(text)
    err.status = status
    return err


def auth_refused(
    op: Op, answer: str | None, code: str | None, detail: str | None, credential: str | None
) -> AuthRefusedError:
    """The one message shape for refused credentials: ``HubSpot refused the access token in
    HUBSPOT_ACCESS_TOKEN (401 Unauthorized, INVALID_AUTHENTICATION) at hubspot companies list``.

    ``answer``: the HTTP status and reason, when the refusal had one; ``detail`` the CRM's
    explanation worth showing (a missing scope), else None."""
    why = ", ".join(part for part in (answer, code, _short(detail, 200) if detail else None) if part)
    vendor = VENDORS.get(op.crm, op.crm)
    return AuthRefusedError(
        f"{vendor} refused {credential or 'the credentials'}" + (f" ({why})" if why else "") + f" at {op}"
    )


def _phrase(status: int) -> str:
    """``Unauthorized`` for 401: the standard reason phrase of an HTTP status."""
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def network_error(op: Op, exc: BaseException) -> RetriableError | None:
    """The error for a failed connection, naming host:port, else None (not a network error).

    No connection at all (refused, DNS failure, connect timeout) gives CrmUnreachableError;
    a read timeout or a dropped connection an ordinary RetriableError."""
    import requests
    import urllib3

    kinds: tuple[type[BaseException], ...] = (
        requests.Timeout,
        requests.ConnectionError,
        urllib3.exceptions.HTTPError,
        socket.timeout,
        ConnectionError,
        TimeoutError,
    )
    if not isinstance(exc, kinds):
        return None
    where, (reason, unreachable) = _endpoint(exc), _network_reason(exc)
    if unreachable:
        return CrmUnreachableError(f"{op}: cannot reach {where or 'the CRM'} ({reason})")
    return RetriableError(f"{op}: no response" + (f" from {where}" if where else "") + f" ({reason})")


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it wraps (cause, context, urllib3's ``reason``, requests' first
    argument), nearest first."""
    import urllib3

    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(out) < 12:
        e = todo.pop(0)
        if any(e is seen for seen in out):
            continue
        out.append(e)
        inner: list[BaseException | None] = [e.__cause__, e.__context__]
        if isinstance(e, urllib3.exceptions.MaxRetryError):
            inner.append(e.reason)
        inner.extend(a for a in e.args if isinstance(a, BaseException))
        todo.extend(i for i in inner if i is not None)
    return out


def _endpoint(exc: BaseException) -> str | None:
    """``host:port`` the failed call went to, from the requests request or the urllib3 pool."""
    from urllib.parse import urlsplit

    import requests
    import urllib3

    for e in _causes(exc):
        if isinstance(e, requests.RequestException) and e.request is not None and e.request.url:
            parts = urlsplit(str(e.request.url))
            port = parts.port or (443 if parts.scheme == "https" else 80)
            if parts.hostname:
                return f"{parts.hostname}:{port}"
        if isinstance(e, urllib3.exceptions.PoolError) and e.pool is not None and e.pool.host:
            port = e.pool.port or (443 if e.pool.scheme == "https" else 80)
            return f"{e.pool.host}:{port}"
    return None


def _network_reason(exc: BaseException) -> tuple[str, bool]:
    """(``connection refused``, ``DNS lookup failed: …``, ``timed out``…, whether the host
    was not reached at all) for a requests/urllib3/socket error."""
    import requests
    import urllib3

    causes = _causes(exc)
    text = " ".join(str(e) for e in causes)
    if any(isinstance(e, (socket.gaierror, urllib3.exceptions.NameResolutionError)) for e in causes):
        m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
        return "DNS lookup failed" + (f": {m.group(1).strip().rstrip('.').lower()}" if m else ""), True
    if any(isinstance(e, ConnectionRefusedError) for e in causes) or "Connection refused" in text:
        return "connection refused", True
    if any(isinstance(e, (requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)) for e in causes):
        return "connect timed out", True
    if any(isinstance(e, (requests.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)) for e in causes):
        return "timed out waiting for the answer", False
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if m:
        return m.group(1).strip().rstrip(".").lower(), False
    return type(exc).__name__, False


Classifier = Callable[[BaseException, Op], "CrmsegError | None"]


@dataclass
class RetryPolicy:
    """Backoff with full jitter, bounded by tries and by total wait; honors ``retry_after``.

    ``backoff(n)`` for the n-th retry is uniform in [0, min(max_delay, base_delay * 2**(n-1))].
    A server hint (``RetriableError.retry_after``) replaces the backoff for that wait; a hint
    that would exceed ``max_total_wait`` stops retrying at once. Every wait goes through
    :meth:`pause`, which ``stop`` (the run's stop event) cuts short.
    """

    max_tries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_total_wait: float = 300.0
    #: Tests inject a sleep that only records; None (the default) waits on ``stop``.
    sleep: Callable[[float], None] | None = None
    #: The run's stop event (a signal sets it): a wait in progress ends at once.
    stop: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=random.Random)
    redact: Redactor = field(default_factory=Redactor)
    #: Tries for a call whose host cannot be reached at all (refused, DNS, connect timeout),
    #: waiting at most ``unreachable_max_delay`` between them: a down host fails in seconds.
    unreachable_tries: int = 3
    unreachable_max_delay: float = 1.0
    #: Seconds slept so far by this policy (all calls), for the run summary.
    waited: float = 0.0
    #: Retries made so far by this policy (all calls).
    retries: int = 0

    def backoff(self, retry_number: int) -> float:
        """Full-jitter delay before retry ``retry_number`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, retry_number - 1)))
        return self.rng.uniform(0.0, ceiling)

    def _wait(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        if isinstance(exc, CrmUnreachableError):
            ceiling = min(self.unreachable_max_delay, self.base_delay * (2 ** max(0, rs.attempt_number - 1)))
            return self.rng.uniform(0.0, ceiling)
        hint = exc.retry_after if isinstance(exc, RetriableError) else None
        return float(hint) if hint is not None else self.backoff(rs.attempt_number)

    def _tries(self, exc: BaseException | None) -> int:
        """The most tries for a call failing with ``exc``."""
        return min(self.unreachable_tries, self.max_tries) if isinstance(exc, CrmUnreachableError) else self.max_tries

    def _stop(self, rs: RetryCallState) -> bool:
        exc = rs.outcome.exception() if rs.outcome else None
        return rs.attempt_number >= self._tries(exc) or rs.idle_for + rs.upcoming_sleep > self.max_total_wait

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, unless the run is asked to stop: then StopRequested, at once."""
        if not self.stop.is_set() and seconds > 0:
            if self.sleep is not None:
                self.sleep(seconds)
            else:
                self.stop.wait(seconds)
        if self.stop.is_set():
            raise StopRequested(
                "stopped on request while waiting to call the CRM again; state is consistent and the next run "
                "goes on from here"
            )

    def _sleep(self, seconds: float) -> None:
        self.waited += seconds
        self.retries += 1
        self.pause(seconds)

    def _before_sleep(self, rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        log.warning(
            "%s (retry %d/%d in %.1fs)",
            self.redact(str(exc)),
            rs.attempt_number,
            self._tries(exc) - 1,
            rs.upcoming_sleep,
        )

    def run(
        self, fn: Callable[[], T], op: Op, classify: Classifier | None = None, reauth: Callable[[], None] | None = None
    ) -> T:
        """Call ``fn`` until it succeeds, a non-retriable error occurs, or the budget is spent."""
        reauthed = False

        def attempt() -> T:
            nonlocal reauthed
            try:
                return fn()
            except Exception as exc:
                err = self._map(exc, op, classify)
            if isinstance(err, AuthExpiredError):
                if reauth is None or reauthed:
                    why = "after re-authenticating once" if reauthed else "and cannot re-authenticate"
                    raise self.redact.scrub(CrmUnavailableError(f"{err} (session refused {why})")) from None
                log.info("%s: session expired; re-authenticating", op)
                try:
                    reauth()
                except Exception as exc:
                    raise self._map(exc, op, classify) from None
                reauthed = True
            raise err from None

        retrying = Retrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception_type(RetriableError),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except RetriableError as err:
            tries = retrying.statistics.get("attempt_number", 1)
            what = "try" if tries == 1 else "tries"
            raise self.redact.scrub(type(err)(f"{err} (gave up after {tries} {what})", err.retry_after)) from None

    def _map(self, exc: BaseException, op: Op, classify: Classifier | None) -> CrmsegError:
        if isinstance(exc, CrmsegError):
            return self.redact.scrub(exc)
        err = classify(exc, op) if classify else None
        if err is None:
            err = network_error(op, exc)
        if err is None:
            raise exc
        log.debug("%s: %s mapped to %s", op, type(exc).__name__, type(err).__name__)
        return self.redact.scrub(err)


class RepeatedCursorError(FatalError):
    """A paged read was handed a page cursor it had already followed: it would loop forever."""

    def __init__(self, op: Op, cursor: object) -> None:
        super().__init__(
            f"{op}: the CRM answered the page cursor {cursor!r} a second time in one read; stopped "
            "rather than read the same pages forever (a paging fault on the CRM's side: try again later)"
        )
        self.op, self.cursor = op, cursor


class CursorWalk(Generic[C]):
    """The cursors one paged read (one query) has followed, so a repeated one is refused."""

    def __init__(self, op: Op, first: C | None = None) -> None:
        self.op = op
        self._seen: set[C] = set() if first is None else {first}

    def follow(self, cursor: C) -> C:
        """``cursor``, recorded; RepeatedCursorError when this walk has followed it before."""
        if cursor in self._seen:
            raise RepeatedCursorError(self.op, cursor)
        self._seen.add(cursor)
        return cursor


def paginate(
    fetch: Callable[[C | None], tuple[Sequence[T], C | None]],
    run: Callable[[Callable[[], Any]], Any],
    op: Op,
    first: C | None = None,
) -> Iterator[T]:
    """Yield items page by page, lazily; ``fetch(cursor) -> (items, next_cursor or None)``.

    ``run`` wraps each page fetch (normally ``lambda f: policy.run(f, op, classify, reauth)``),
    so a failure mid-way retries only that page. A next cursor already followed in this walk
    raises :class:`RepeatedCursorError` naming ``op`` (CRM, object, operation) and the cursor.
    """
    walk = CursorWalk(op, first)
    cursor = first
    while True:
        items, nxt = run(functools.partial(fetch, cursor))
        yield from items
        if nxt is None:
            return
        cursor = walk.follow(nxt)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
