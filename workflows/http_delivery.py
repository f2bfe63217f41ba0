"""One webhook POST over real HTTP: pinned to the checked address, no redirects, bounded time."""

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from urllib.parse import urlsplit, urlunsplit

import httpx

from workflows.models import utc_now
from workflows.target_guard import ResolvedTarget

_MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpResponse:
    status_code: int
    latency_ms: int
    retry_after_seconds: int | None


class TransportError(Exception):
    """No HTTP response: timeout, refused or dropped connection, TLS failure."""

    def __init__(self, detail: str, latency_ms: int) -> None:
        super().__init__(detail)
        self.latency_ms = latency_ms


@cache
def _client(connect_timeout: float, request_timeout: float) -> httpx.Client:
    # One pooled client per process and timeout pair; redirects are never followed.
    return httpx.Client(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )


def _pinned_url(target: ResolvedTarget) -> str:
    parts = urlsplit(target.url)
    host = f"[{target.address}]" if ":" in target.address else target.address
    return urlunsplit((parts.scheme, f"{host}:{target.port}", parts.path or "/", parts.query, ""))


def parse_retry_after(value: str | None, cap_seconds: int) -> int | None:
    """Retry-After as delta-seconds or an HTTP date, clamped to [0, cap]."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            seconds = int((parsedate_to_datetime(value) - utc_now()).total_seconds())
        except (TypeError, ValueError):
            return None
    return max(0, min(seconds, cap_seconds))


def post(target: ResolvedTarget, body: bytes, headers: dict[str, str], *,
         connect_timeout: float, request_timeout: float, retry_after_cap: int) -> HttpResponse:
    client = _client(connect_timeout, request_timeout)
    request_headers = {**headers, "host": urlsplit(target.url).netloc.rsplit("@", 1)[-1]}
    started = time.perf_counter()

    def elapsed_ms() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        with client.stream("POST", _pinned_url(target), content=body, headers=request_headers,
                           extensions={"sni_hostname": target.host}) as response:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read >= _MAX_RESPONSE_BYTES:
                    break  # the body is not used; do not let a receiver stream forever
                if elapsed_ms() > request_timeout * 1000:
                    raise TransportError(f"timed out after {request_timeout:g} s", elapsed_ms())
    except httpx.TimeoutException as exc:
        raise TransportError(f"timed out ({type(exc).__name__})", elapsed_ms()) from None
    except httpx.HTTPError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}", elapsed_ms()) from None
    if elapsed_ms() > request_timeout * 1000:
        raise TransportError(f"timed out after {request_timeout:g} s", elapsed_ms())
    return HttpResponse(
        status_code=response.status_code,
        latency_ms=elapsed_ms(),
        retry_after_seconds=parse_retry_after(response.headers.get("retry-after"),
                                              retry_after_cap),
    )
