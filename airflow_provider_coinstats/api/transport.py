"""Transport failures named by their exception types (requests, urllib3 2.x, http.client, ssl,
socket), never by matching their English messages.

:func:`classify` walks an exception and everything it wraps (``__cause__``, ``__context__``,
urllib3's ``reason`` and the inner errors it passes in ``args``) and says what kind of failure it
was, in a few words. The client turns that into the matching class of the error tree.
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from typing import Literal

import requests.exceptions as rq
import urllib3.exceptions as u3

Kind = Literal["timeout", "connection", "config", "response"]


@dataclass(frozen=True)
class Failure:
    """What a transport exception means.

    :param kind: ``timeout`` and ``connection`` are transient (retried); ``config`` means the
        base URL or the key cannot be sent at all; ``response`` means the answer arrived but its
        encoding is broken.
    :param words: what happened, for the error message (no URL, no header, no body).
    """

    kind: Kind
    words: str


# Most specific first: NameResolutionError is a NewConnectionError, which urllib3 2.x makes a
# ConnectTimeoutError; RemoteDisconnected is a ConnectionResetError.
_RULES: tuple[tuple[tuple[type[BaseException], ...], Failure], ...] = (
    ((u3.NameResolutionError,), Failure("connection", "the host name does not resolve (DNS)")),
    ((rq.ProxyError, u3.ProxyError), Failure("connection", "the proxy could not be reached")),
    ((ConnectionRefusedError,), Failure("connection", "the connection was refused")),
    ((u3.NewConnectionError,), Failure("connection", "no connection could be opened")),
    ((rq.ConnectTimeout, u3.ConnectTimeoutError), Failure("timeout", "no connection in time")),
    ((ssl.SSLCertVerificationError,), Failure("connection", "the TLS certificate was not trusted")),
    ((rq.SSLError, u3.SSLError, ssl.SSLError), Failure("connection", "the TLS handshake failed")),
    (
        (rq.ReadTimeout, u3.ReadTimeoutError, TimeoutError),
        Failure("timeout", "no answer in time"),
    ),
    (
        (http.client.RemoteDisconnected,),
        Failure("connection", "the server closed the connection without answering"),
    ),
    (
        (ConnectionResetError, BrokenPipeError, ConnectionAbortedError),
        Failure("connection", "the connection was reset"),
    ),
    (
        (
            http.client.IncompleteRead,
            u3.IncompleteRead,
            u3.InvalidChunkLength,
            rq.ChunkedEncodingError,
        ),
        Failure("connection", "the answer was cut off mid-transfer"),
    ),
    (
        (rq.ContentDecodingError, u3.DecodeError),
        Failure("response", "the compressed answer could not be decompressed"),
    ),
    (
        (rq.InvalidURL, rq.MissingSchema, rq.InvalidSchema, u3.LocationValueError),
        Failure("config", "the base URL is not valid"),
    ),
    (
        (rq.InvalidHeader, UnicodeError),
        Failure("config", "a header value cannot be sent"),
    ),
    (
        (http.client.HTTPException, u3.ProtocolError),
        Failure("connection", "the answer was not valid HTTP"),
    ),
)

_UNKNOWN = Failure("connection", "the transfer failed")


def classify(error: BaseException) -> Failure:
    """What ``error``, or the most telling error it wraps, means."""
    chain = _chain(error)
    for types, failure in _RULES:
        if any(isinstance(link, types) for link in chain):
            return failure
    return _UNKNOWN


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it wraps, outermost first (each once, at most 32)."""
    found: list[BaseException] = []
    pending: list[object] = [error]
    while pending and len(found) < 32:
        link = pending.pop(0)
        if not isinstance(link, BaseException) or any(link is seen for seen in found):
            continue
        found.append(link)
        pending += [link.__cause__, link.__context__, getattr(link, "reason", None), *link.args]
    return found
