"""Failure mapping shared by the upstream clients, from address lookup to the first event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from router.upstream.base import CONN_REFUSED, CONN_RESET, TIMEOUT_FIRST_BYTE, UpstreamFailure
from router.upstream.credentials import Credentials, ProviderAccess
from routing.instances import Instance


def resolve_access(credentials: Credentials, provider: str, instance: Instance) -> ProviderAccess:
    """The provider's address and key for this instance; refused when there is no address."""
    access = credentials.resolve(provider, instance.tags, instance.endpoint)
    if not access.base_url:
        # Refused, not a client error: another instance of the model may be configured.
        raise UpstreamFailure(CONN_REFUSED, f"no base URL configured for {provider}")
    return access


@contextmanager
def first_reply_failures(resp: aiohttp.ClientResponse) -> Iterator[None]:
    """Close `resp` on any failure before the reply is handed on, mapping transport errors."""
    # Until the first event reaches the caller every failure must stay an UpstreamFailure,
    # so the dispatcher can still fail over; the response would otherwise hold its socket.
    try:
        yield
    except UpstreamFailure:
        resp.close()
        raise
    except (TimeoutError, aiohttp.ServerTimeoutError):
        resp.close()
        raise UpstreamFailure(TIMEOUT_FIRST_BYTE, "no reply in time") from None
    except (aiohttp.ClientPayloadError, aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        resp.close()
        raise UpstreamFailure(CONN_RESET, "connection dropped before a reply") from None
