"""Every error the provider raises, in one tree.

::

    CoinStatsError                     base; carries status_code, api_message, request_id
    ├── CoinStatsConfigError           unusable connection or parameter (no key, bad extra)
    ├── CoinStatsAuthError             401/403: key rejected, or plan lacks access   (permanent)
    ├── CoinStatsCreditsExhaustedError 402/406, or a 429 that speaks of credits      (permanent)
    ├── CoinStatsRateLimitError        any other 429; carries retry_after            (transient)
    ├── CoinStatsServerError           any 5xx, whatever its body                    (transient)
    ├── CoinStatsRequestError          any other 4xx: bad parameters, unknown path   (permanent)
    ├── CoinStatsResponseError         a 2xx whose body is not the JSON we expect    (permanent)
    ├── CoinStatsConnectionError       DNS, refused, reset, cut-off body, timeouts   (transient)
    └── CoinStatsInsufficientCreditsError  fewer credits than a task needs          (domain)

The classes import nothing from Airflow: the client is usable without it. Airflow fails a task on
any exception, so none needs to derive from ``AirflowException``. No message ever contains the API
key: messages are built from CoinStats' own error text, which never echoes it.
"""

from __future__ import annotations

KEYS_URL = "https://openapi.coinstats.app"


class CoinStatsError(Exception):
    """Base class of every error raised by this provider.

    :param message: what went wrong, and what to do about it where we know.
    :param status_code: the HTTP status, when a response arrived.
    :param api_message: CoinStats' own ``message`` (or ``error``) field, verbatim.
    :param request_id: CoinStats' ``requestId``, to quote to their support.
    """

    #: Whether retrying the same request may succeed. The retry policy reads only this.
    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        api_message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.api_message = api_message
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        if self.request_id:
            text += f" (requestId {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status_code={self.status_code!r}, "
            f"api_message={self.api_message!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword-only fields when pickled (e.g. across a process pool).
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[CoinStatsError], message: str, state: dict[str, object]) -> CoinStatsError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class CoinStatsConfigError(CoinStatsError, ValueError):
    """The connection or a task parameter cannot work as given (no key, an invalid extra)."""


class CoinStatsAuthError(CoinStatsError):
    """CoinStats rejected the key (401), or the key's plan may not use the endpoint (403)."""


class CoinStatsCreditsExhaustedError(CoinStatsError):
    """The account has no credits left for this billing period (402, 406, or a credits 429)."""


class CoinStatsRateLimitError(CoinStatsError):
    """Too many requests per second (429 that is not about credits).

    :param retry_after: seconds CoinStats asked us to wait, when it said so.
    """

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class CoinStatsServerError(CoinStatsError):
    """CoinStats, or a proxy in front of it, failed with a 5xx."""

    transient = True


class CoinStatsRequestError(CoinStatsError):
    """CoinStats refused the request itself (400, 404, 409 ...): fix the call, do not retry it."""


class CoinStatsResponseError(CoinStatsError):
    """A successful status with a body that is not the JSON we expect."""


class CoinStatsConnectionError(CoinStatsError):
    """No usable answer arrived: DNS failure, refused or reset connection, timeout, cut-off body."""

    transient = True


class CoinStatsInsufficientCreditsError(CoinStatsError):
    """The account has fewer credits than the task was told it needs."""
