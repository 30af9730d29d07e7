"""The shared retry/rate-limit policy: backoff math, Retry-After, limits, error mapping."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmseg.connectors.limits import (
    ApiUsage,
    RateGate,
    hubspot_wait_hint,
    parse_retry_after,
    parse_sforce_limit_info,
)
from crmseg.connectors.retry import Op, Redactor, RetryPolicy, http_error, paginate
from crmseg.errors import AuthExpiredError, ConfigError, FatalError, RetriableError
from tests.connector_fixtures import FakeSleep

OP = Op("salesforce", "Account", "query")


def policy(**kw) -> RetryPolicy:
    kw.setdefault("sleep", FakeSleep())
    kw.setdefault("rng", random.Random(1))
    return RetryPolicy(**kw)


def flaky(errors: list[BaseException], result: str = "ok"):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


# ------------------------------------------------------------------ backoff math
@given(st.integers(min_value=1, max_value=40), st.floats(0.01, 5), st.floats(0.1, 120), st.integers(0, 10_000))
def test_full_jitter_stays_within_bounds(n, base, cap, seed):
    p = policy(base_delay=base, max_delay=cap, rng=random.Random(seed))
    d = p.backoff(n)
    assert 0.0 <= d <= min(cap, base * 2 ** (n - 1)) + 1e-9


def test_backoff_ceiling_doubles_then_caps():
    class Top(random.Random):
        def uniform(self, a, b):  # always the top of the range
            return b

    p = policy(base_delay=0.5, max_delay=4.0, rng=Top())
    assert [p.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_spreads_delays():
    p = policy(base_delay=1.0, max_delay=60.0, rng=random.Random(3))
    samples = [p.backoff(5) for _ in range(500)]
    assert min(samples) < 2.0 and max(samples) > 14.0  # uniform over [0, 16]


# ------------------------------------------------------------------ Retry-After and limit headers
def test_retry_after_seconds_and_http_date():
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    clock = lambda: now.timestamp()  # noqa: E731
    assert parse_retry_after("7", clock) == 7.0
    assert parse_retry_after(" 1.5 ", clock) == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), clock) == 30.0
    assert parse_retry_after("Sun, 01 Nov 2026 11:59:00 GMT", clock) == 0.0  # in the past
    assert parse_retry_after("-3", clock) == 0.0
    for bad in (None, "", "soon", "Mon, 99 Foo"):
        assert parse_retry_after(bad, clock) is None


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_sforce_limit_info_parses(used, total):
    assert parse_sforce_limit_info(f"api-usage={used}/{total}") == (used, total)
    assert parse_sforce_limit_info(f"api-usage={used}/{total};per-app-api-usage=1/250(appName=x)") == (used, total)


def test_api_usage_tracks_latest_header_case_insensitively():
    u = ApiUsage()
    u.observe({"sforce-limit-info": "api-usage=18/5000"})
    u.observe({"Other": "x"})
    assert u.as_tuple() == (18, 5000) and u.fraction == pytest.approx(0.0036)
    assert parse_sforce_limit_info("garbage") is None


def test_hubspot_headers_wait_when_remaining_hits_zero():
    assert (
        hubspot_wait_hint({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
        == 10.0
    )
    assert (
        hubspot_wait_hint({"X-HubSpot-RateLimit-Remaining": "5", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
        is None
    )
    assert hubspot_wait_hint({"X-HubSpot-RateLimit-Secondly-Remaining": "0"}) == 1.0
    slept = FakeSleep()
    gate = RateGate(sleep=slept, clock=lambda: 100.0, min_interval={"search": 0.25})
    gate.observe({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "2000"})
    gate.before_call("list")
    gate.before_call("list")  # the wait is spent once
    gate.before_call("search")
    gate.before_call("search")  # spaced by min_interval (clock frozen)
    assert slept.calls == [2.0, 0.25]


# ------------------------------------------------------------------ error mapping
@pytest.mark.parametrize(
    "status,code,kind",
    [
        (None, None, RetriableError),
        (429, None, RetriableError),
        (500, None, RetriableError),
        (503, None, RetriableError),
        (504, None, RetriableError),
        (408, None, RetriableError),
        (401, "INVALID_SESSION_ID", AuthExpiredError),
        (403, "REQUEST_LIMIT_EXCEEDED", FatalError),
        (429, "DAILY", FatalError),
        (429, "REQUEST_LIMIT_EXCEEDED", RetriableError),
        (403, "INSUFFICIENT_ACCESS", FatalError),
        (400, "MALFORMED_QUERY", FatalError),
        (400, "INVALID_FIELD", ConfigError),
        (404, "NOT_FOUND", FatalError),
    ],
)
def test_http_error_mapping(status, code, kind):
    err = http_error(OP, status, code, "detail text", 3.0)
    assert type(err) is kind
    assert str(err).startswith("salesforce Account query: ")
    if kind is RetriableError:
        assert err.retry_after == 3.0


# ------------------------------------------------------------------ the policy
def test_retries_then_succeeds_and_honors_retry_after():
    p = policy(max_tries=5)
    fn, calls = flaky([RetriableError("a", retry_after=4.0), RetriableError("b")])
    assert p.run(fn, OP) == "ok"
    assert calls["n"] == 3 and p.sleep.calls[0] == 4.0 and len(p.sleep.calls) == 2
    assert p.retries == 2 and p.waited == pytest.approx(sum(p.sleep.calls))


def test_max_tries_is_a_hard_bound():
    p = policy(max_tries=3)
    fn, calls = flaky([RetriableError(f"e{i}") for i in range(10)])
    with pytest.raises(RetriableError, match="gave up after 3 tries"):
        p.run(fn, OP)
    assert calls["n"] == 3 and len(p.sleep.calls) == 2


def test_max_total_wait_stops_before_a_long_retry_after():
    p = policy(max_tries=10, max_total_wait=60.0)
    fn, calls = flaky([RetriableError("slow down", retry_after=3600.0)])
    with pytest.raises(RetriableError, match="gave up after 1 try"):
        p.run(fn, OP)
    assert calls["n"] == 1 and p.sleep.calls == []


@given(st.lists(st.floats(0, 50), min_size=1, max_size=12), st.floats(1, 100))
def test_total_wait_never_exceeds_budget(hints, budget):
    p = policy(max_tries=20, max_total_wait=budget)
    fn, _ = flaky([RetriableError("x", retry_after=h) for h in hints])
    with contextlib.suppress(RetriableError):
        p.run(fn, OP)
    assert sum(p.sleep.calls) <= budget + 1e-9


def test_non_retriable_errors_are_not_retried():
    p = policy()
    for err in (FatalError("no"), ConfigError("bad")):
        fn, calls = flaky([err])
        with pytest.raises(type(err)):
            p.run(fn, OP)
        assert calls["n"] == 1
    assert p.sleep.calls == []


def test_unknown_exceptions_propagate_unchanged():
    fn, _ = flaky([KeyError("bug")])
    with pytest.raises(KeyError):
        policy().run(fn, OP)


def test_network_errors_are_retriable():
    import requests

    fn, calls = flaky([requests.ConnectionError("refused"), requests.Timeout("slow")])
    assert policy().run(fn, OP) == "ok" and calls["n"] == 3


def test_401_reauthenticates_once_then_retries():
    p, relogins = policy(), []
    fn, calls = flaky([AuthExpiredError("expired", 0.0)])
    assert p.run(fn, OP, reauth=lambda: relogins.append(1)) == "ok"
    assert relogins == [1] and calls["n"] == 2 and p.sleep.calls == []


def test_401_after_reauth_is_fatal():
    p, relogins = policy(), []
    fn, calls = flaky([AuthExpiredError("salesforce Account query: HTTP 401", 0.0) for _ in range(3)])
    with pytest.raises(FatalError, match="re-authenticating once"):
        p.run(fn, OP, reauth=lambda: relogins.append(1))
    assert relogins == [1] and calls["n"] == 2


def test_401_without_reauth_is_fatal():
    fn, _ = flaky([AuthExpiredError("x", 0.0)])
    with pytest.raises(FatalError, match="cannot re-authenticate"):
        policy().run(fn, OP)


def test_classifier_maps_library_errors():
    class LibError(Exception):
        status = 503

    fn, calls = flaky([LibError()])
    classify = lambda exc, op: http_error(op, exc.status) if isinstance(exc, LibError) else None  # noqa: E731
    assert policy().run(fn, OP, classify) == "ok" and calls["n"] == 2


def test_messages_are_redacted():
    secret = "00DSECRET!token-value"
    p = policy(max_tries=1, redact=Redactor([secret]))
    fn, _ = flaky([RetriableError(f"salesforce Account query: HTTP 500: echo {secret}")])
    with pytest.raises(RetriableError) as ei:
        p.run(fn, OP)
    assert secret not in str(ei.value) and "***" in str(ei.value)
    assert Redactor(["ab", None, ""])("ab") == "ab"  # too short to be a secret


def test_paginate_is_lazy_and_retries_only_the_failed_page():
    p = policy()
    pages = {None: ([1, 2], "c1"), "c1": ([3], "c2"), "c2": ([4], None)}
    fetched: list[object] = []
    failures = [RetriableError("blip")]

    def fetch(cursor):
        fetched.append(cursor)
        if cursor == "c1" and failures:
            raise failures.pop()
        return pages[cursor]

    it = paginate(fetch, lambda f: p.run(f, OP), OP)
    assert next(it) == 1 and fetched == [None]
    assert list(it) == [2, 3, 4]
    assert fetched == [None, "c1", "c1", "c2"]


def test_redactor_masks_whole_tokens_only() -> None:
    r = Redactor(["sandbox", "p@ss word!"])
    assert r("HTTP 500: <sandbox>true</sandbox> sandbox") == "HTTP 500: <***>true</***> ***"
    assert r("sandboxes, __sandbox/stats, crmsandbox") == "sandboxes, __sandbox/stats, crmsandbox"
    assert r("pw=p%40ss%20word%21&x, body p@ss word!.") == "pw=***&x, body ***."
    assert r("pw=p%40ss+word%21") == "pw=***"
