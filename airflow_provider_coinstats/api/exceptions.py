"""Every error the provider raises, in one tree of groups.

::

    CoinStatsError                        base; carries status_code, api_message, request_id
    ├── CoinStatsConfigError              unusable connection or parameter      (before any request)
    ├── CoinStatsAPIError                 CoinStats (or a proxy) answered, with an error
    │   ├── CoinStatsAuthError            401/403: key rejected, or plan lacks access   (permanent)
    │   ├── CoinStatsCreditsExhaustedError 402/406, or a 429 that speaks of credits     (permanent)
    │   ├── CoinStatsRateLimitError       any other 429; carries retry_after            (transient)
    │   ├── CoinStatsServerError          any 5xx, whatever its body                    (transient)
    │   ├── CoinStatsRequestError         any other 4xx, or a redirect                  (permanent)
    │   └── CoinStatsResponseError        an answer we cannot use: not JSON, too large, too deep,
    │       │                             missing or mistyped fields                    (permanent)
    │       └── CoinStatsInconsistentCreditsError  credit figures that cannot all be true
    ├── CoinStatsConnectionError          no usable answer: DNS, refused, reset, cut off (transient)
    │   └── CoinStatsTimeoutError         an attempt or the whole call ran past its deadline
    └── CoinStatsBudgetError              the budget's own verdicts, not CoinStats'
        └── CoinStatsInsufficientCreditsError  fewer credits than a task needs

Catch ``CoinStatsAPIError`` for "CoinStats said no", ``CoinStatsConnectionError`` for "CoinStats
could not be reached", ``CoinStatsConfigError`` for "fix the connection or the DAG". The classes
import nothing from Airflow: the client is usable without it. Airflow fails a task on any
exception, so none needs to derive from ``AirflowException``. No message ever contains the API
key: everything CoinStats sends back is scrubbed of it before it is quoted.
"""

from __future__ import annotations

from collections.abc import Mapping

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

    def to_dict(self) -> dict[str, object]:
        """The error as JSON primitives (class name, message and every field), e.g. for a
        trigger event; :meth:`from_dict` rebuilds it."""
        return {"error": type(self).__name__, **self.__dict__}

    @staticmethod
    def from_dict(data: Mapping[str, object]) -> CoinStatsError:
        """Rebuild an error written by :meth:`to_dict`; an unknown class name becomes a plain
        :class:`CoinStatsError` with the same fields."""
        cls = _CLASSES.get(str(data.get("error")), CoinStatsError)
        state = {key: value for key, value in data.items() if key != "error"}
        state.setdefault("message", "unknown CoinStats error")
        state.setdefault("status_code", None)
        state.setdefault("api_message", None)
        state.setdefault("request_id", None)
        if issubclass(cls, CoinStatsRateLimitError):
            state.setdefault("retry_after", None)
        return _rebuild(cls, str(state["message"]), state)

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


class CoinStatsAPIError(CoinStatsError):
    """CoinStats, or a proxy in front of it, answered, and the answer is an error or unusable."""


class CoinStatsAuthError(CoinStatsAPIError):
    """CoinStats rejected the key (401), or the key's plan may not use the endpoint (403)."""


class CoinStatsCreditsExhaustedError(CoinStatsAPIError):
    """The account has no credits left for this billing period (402, 406, or a credits 429)."""


class CoinStatsRateLimitError(CoinStatsAPIError):
    """Too many requests per second (429 that is not about credits).

    :param retry_after: seconds CoinStats asked us to wait, when it said so.
    """

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class CoinStatsServerError(CoinStatsAPIError):
    """CoinStats, or a proxy in front of it, failed with a 5xx."""

    transient = True


class CoinStatsRequestError(CoinStatsAPIError):
    """CoinStats refused the request itself (400, 404, 409 ...): fix the call, do not retry it."""


class CoinStatsResponseError(CoinStatsAPIError):
    """A successful status with a body that is not the JSON we expect."""


class CoinStatsConnectionError(CoinStatsError):
    """No usable answer arrived: DNS failure, refused or reset connection, timeout, cut-off body."""

    transient = True


class CoinStatsInconsistentCreditsError(CoinStatsResponseError):
    """``/usage/credits`` figures that cannot all be true (negative, ``remaining > total``,
    ``used + remaining`` far from ``total``). A gate never decides on them: it waits for a
    reading that adds up."""


class CoinStatsTimeoutError(CoinStatsConnectionError):
    """An attempt, or the whole call with its retries, ran past its deadline."""


class CoinStatsBudgetError(CoinStatsError):
    """A verdict of the credit budget itself, not an error CoinStats sent."""


class CoinStatsInsufficientCreditsError(CoinStatsBudgetError):
    """The account has fewer credits than the task was told it needs."""


def _subclasses(cls: type[CoinStatsError]) -> list[type[CoinStatsError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


#: Every class of the tree by name, for :meth:`CoinStatsError.from_dict`.
_CLASSES: dict[str, type[CoinStatsError]] = {
    cls.__name__: cls for cls in _subclasses(CoinStatsError)
}
