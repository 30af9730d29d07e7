"""OData ``$batch`` bodies for the Dynamics 365 sandbox (multipart/mixed, OData 4.0 §11.7).

A batch body holds parts separated by ``--<boundary>``; a part is either one request
(``Content-Type: application/http``, then the request line, headers, a blank line and a
body) or a change set (``Content-Type: multipart/mixed;boundary=changeset_...``) whose
requests succeed or fail together. The answer mirrors it: one ``application/http`` part per
request (``HTTP/1.1 204 No Content`` ...), a change set answered as a nested multipart.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

_BOUNDARY = re.compile(r'boundary="?([^";,\s]+)"?', re.IGNORECASE)
_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class BatchSyntaxError(ValueError):
    """The body is not a multipart batch the service can read."""


@dataclass
class SubRequest:
    """One request inside a batch."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""
    content_id: str | None = None


@dataclass
class BatchItem:
    """A top-level part: one request, or a change set of several (``changeset`` True)."""

    requests: list[SubRequest] = field(default_factory=list)
    changeset: bool = False


@dataclass
class SubResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None


def boundary_of(content_type: str) -> str:
    m = _BOUNDARY.search(content_type or "")
    if not m or not content_type.lower().startswith("multipart/mixed"):
        raise BatchSyntaxError("The batch request must have a 'Content-Type' of multipart/mixed with a boundary.")
    return m.group(1)


def _split(body: bytes, boundary: str) -> list[bytes]:
    text = body.replace(b"\r\n", b"\n")
    delim = b"--" + boundary.encode()
    if delim + b"--" not in text:
        raise BatchSyntaxError(f"The batch body does not end with --{boundary}--.")
    text = text.split(delim + b"--", 1)[0]
    chunks = text.split(delim)
    return [c.strip(b"\n") for c in chunks[1:]]


def _headers(block: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.decode("utf-8").split("\n"):
        if ":" in line:
            key, val = line.split(":", 1)
            out[key.strip().lower()] = val.strip()
    return out


def _request(part: bytes) -> SubRequest:
    head, _, inner = part.partition(b"\n\n")
    part_headers = _headers(head)
    req_head, _, body = inner.partition(b"\n\n")
    lines = req_head.decode("utf-8").split("\n")
    words = lines[0].split()
    if len(words) < 2:
        raise BatchSyntaxError(f"bad request line in a batch part: {lines[0]!r}")
    return SubRequest(
        words[0].upper(),
        words[1],
        _headers("\n".join(lines[1:]).encode()),
        body.strip(b"\n"),
        part_headers.get("content-id"),
    )


def parse_batch(body: bytes, content_type: str) -> list[BatchItem]:
    """The items of a ``$batch`` body (BatchSyntaxError when it cannot be read)."""
    items: list[BatchItem] = []
    for part in _split(body, boundary_of(content_type)):
        head = _headers(part.partition(b"\n\n")[0])
        ctype = head.get("content-type", "")
        if ctype.lower().startswith("multipart/mixed"):
            inner = part.partition(b"\n\n")[2]
            items.append(BatchItem([_request(p) for p in _split(inner, boundary_of(ctype))], changeset=True))
        elif ctype.lower().startswith("application/http"):
            items.append(BatchItem([_request(part)]))
        else:
            raise BatchSyntaxError(f"a batch part has Content-Type {ctype!r} (application/http expected)")
    return items


def _render_one(resp: SubResponse) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if resp.content_id:
        lines.append(f"Content-ID: {resp.content_id}")
    lines += ["", f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, '')}".rstrip()]
    lines += [f"{k}: {v}" for k, v in resp.headers.items()]
    if resp.body:
        lines += ["Content-Type: application/json; odata.metadata=minimal", "", resp.body.decode("utf-8")]
    else:
        lines += ["", ""]
    return "\r\n".join(lines)


def render_batch(results: list[tuple[bool, list[SubResponse]]]) -> tuple[bytes, str]:
    """A batch answer body and its Content-Type; ``results``: (was a change set, its responses)."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    out: list[str] = []
    for changeset, responses in results:
        if changeset:
            inner = f"changesetresponse_{uuid.uuid4()}"
            nested = "".join(f"--{inner}\r\n{_render_one(r)}\r\n" for r in responses) + f"--{inner}--"
            out.append(f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n{nested}\r\n")
        else:
            out.extend(f"--{boundary}\r\n{_render_one(r)}\r\n" for r in responses)
    out.append(f"--{boundary}--\r\n")
    return "".join(out).encode("utf-8"), f"multipart/mixed; boundary={boundary}"
