"""One root error, branched by what the caller should do next.

- ``ConfigError``  fix the config, mapping or rules (exit 2; nothing read or written)
- ``FatalError``   abort the run (auth refused, schema mismatch, limit exhausted)
- ``RetriableError`` try the same call again later (429, 5xx, timeouts)
- ``StopRequested`` the run was asked to stop (a signal, the API budget): state is
  consistent, the next run goes on from there
- ``CrmUnavailableError`` the CRM could not be reached or refused us (exit 4): no answer
  after the retries, or the login/session refused. A ``RetriableError`` that reaches the
  command line has spent its retries, so it exits 4 too.
- ``AuthRefusedError`` the CRM refused the credentials (a wrong token, a refused login):
  exit 4 like every refusal, never retried; the message names the environment variable(s)
  the credentials came from, never their value.
- ``CrmUnreachableError`` no connection at all (refused, DNS, connect timeout): retried a
  few times only, the message names host:port.

Exit codes: 0 success, 1 the run found problems, 2 bad usage/config/rules/input file,
3 a sync locked by another run, 4 the CRM could not be reached or refused us, 130/143 a signal.

Messages name the file/key/rule/record or the CRM object, operation and status;
never a credential.
"""

from __future__ import annotations


class CrmsegError(Exception):
    """Root of every error crmseg raises on purpose."""

    exit_code = 1
    #: The HTTP status of the CRM answer behind the error, when there was one.
    status: int | None = None


class ConfigError(CrmsegError):
    """Bad configuration, mapping or usage: the user must fix an input file."""

    exit_code = 2


class RuleError(ConfigError):
    """A rule file problem; ``problems`` holds every message found (one per line)."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class FatalError(CrmsegError):
    """The run cannot continue (authentication, schema, exhausted limits)."""

    exit_code = 1


class CrmUnavailableError(FatalError):
    """The CRM could not be reached (after retries) or refused the credentials."""

    exit_code = 4


class AuthRefusedError(CrmUnavailableError):
    """The CRM refused the credentials (HTTP 401/403 for bad credentials, a refused login):
    retrying cannot help, the user must fix the environment variable the message names."""


class RetriableError(CrmsegError):
    """A transient failure; ``retry_after`` seconds is the server's hint, if any.

    Reaching the command line it means the retries were spent: the CRM did not answer (exit 4)."""

    exit_code = 4

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthExpiredError(RetriableError):
    """The session/token expired; re-authenticate once, then retry."""


class StopRequested(CrmsegError):
    """The run was asked to stop (signal or API budget); state is consistent."""

    exit_code = 1


class CrmUnreachableError(RetriableError):
    """No connection to the CRM's host (connection refused, DNS failure, connect timeout); the
    message names host:port. Retried only a few times: a host that is down rarely comes back
    within a run's back-off."""
