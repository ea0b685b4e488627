"""Operators for the CoinStats Public API: credit usage, and calls to any endpoint."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_coinstats.api.exceptions import (
    CoinStatsConfigError,
    CoinStatsInsufficientCreditsError,
)
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook

# The credit domain and the parameter helpers load when an operator is built or runs, not when
# a DAG file imports this module (bench/parse_cost.py); ObjectStoragePath only when a task writes.
if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_coinstats.api.models import Credits


class CreditUsageOperator(BaseOperator):
    """Read the account's credit usage and return it to XCom.

    Returns ``{total_credits, used_credits, remaining_credits, subscription, used_ratio,
    checked_at}`` (``checked_at`` in ISO-8601 UTC) and logs one line such as
    ``CoinStats PRO: 55,000 of 100,000 credits left (45.0% used)``. The call itself is free.

    :param coinstats_conn_id: the CoinStats connection (templated).
    :param min_remaining_credits: if set, the task fails when fewer credits remain (templated).
    """

    template_fields: Sequence[str] = ("coinstats_conn_id", "min_remaining_credits")
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        coinstats_conn_id: str = CoinStatsHook.default_conn_name,
        min_remaining_credits: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.coinstats_conn_id = coinstats_conn_id
        self.min_remaining_credits = min_remaining_credits
        self._check_literals()

    def _check_literals(self) -> None:
        """Check literal values while the DAG is parsed; templates are checked once rendered."""
        from airflow_provider_coinstats.common.literals import is_literal
        from airflow_provider_coinstats.common.params import credits_param

        if is_literal(self.min_remaining_credits):
            credits_param("min_remaining_credits", self.min_remaining_credits)

    @cached_property
    def hook(self) -> CoinStatsHook:
        return CoinStatsHook(coinstats_conn_id=self.coinstats_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_coinstats.common.metrics import emit_credit_gauges
        from airflow_provider_coinstats.common.params import credits_param

        usage = self.hook.get_credit_usage()
        self.log.info("%s", usage.summary())
        emit_credit_gauges(self.coinstats_conn_id, usage)
        minimum = credits_param("min_remaining_credits", self.min_remaining_credits)
        if minimum is not None and usage.remaining_credits < minimum:
            raise CoinStatsInsufficientCreditsError(
                f"Only {usage.remaining_credits:,} CoinStats credits remain on connection "
                f"{self.coinstats_conn_id!r}, below min_remaining_credits={minimum:,}. Wait for "
                "the next billing period, top up, or lower min_remaining_credits."
            )
        return usage.to_dict(pendulum.now("UTC"))


#: Pages a paginated pull fetches at most unless told otherwise.
DEFAULT_MAX_PAGES = 10
#: The largest JSON result returned through XCom (1 MiB); larger results belong in output_path.
DEFAULT_MAX_XCOM_BYTES = 1_048_576
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class CoinStatsOperator(BaseOperator):
    """Call any CoinStats endpoint, optionally walking its pages, and hand the JSON on.

    Every call is priced from the CoinStats price list before it is sent (an unpriced endpoint
    fails before spending anything) and logged, e.g. ``CoinStats GET /coins page 3: 2 credits
    (50 items)`` and ``CoinStats GET /coins: 3 calls cost 6 credits by the price list``.

    With ``paginate=True`` it requests ``page`` 1, 2, ... (CoinStats' ``page``/``limit``
    parameters, starting at ``query["page"]`` if given) and concatenates the ``result`` lists.
    The walk ends when ``meta.hasNextPage`` is false, or, for answers without ``meta``
    (``{"result": [...]}`` or a bare list), on an empty page or one shorter than
    ``query["limit"]``. Reaching ``max_pages`` first is a warning, not an error, since the pages
    are already paid for: the result says ``truncated: true``.

    Returns to XCom ``{method, endpoint, calls, items, truncated, estimated_credits,
    planned_credits, bytes}`` plus ``data`` (the JSON: the answer, or the concatenated items
    when paginating) or, with ``output_path``, ``output_path`` where that JSON was written.

    :param endpoint: API path without ``/v1``, e.g. ``/coins`` or ``/coins/bitcoin`` (templated).
    :param method: HTTP method.
    :param query: query parameters; lists are sent comma-separated (templated). Named ``query``
        because ``params`` is Airflow's own DAG-params argument.
    :param json: request body for POST, PUT and PATCH endpoints (templated).
    :param paginate: walk the endpoint's pages and concatenate their items.
    :param max_pages: the most pages a walk fetches; also what :meth:`planned_calls` budgets.
    :param output_path: write the JSON here instead of returning it: a local path, a
        ``file://`` URL or any :class:`airflow.sdk.ObjectStoragePath` URL such as
        ``s3://conn_id@bucket/key.json`` (templated).
    :param max_xcom_bytes: fail (without retries) rather than push more JSON than this to XCom.
    :param coinstats_conn_id: the CoinStats connection (templated).
    :param price_overrides: ``{"GET /path": credits}`` for endpoints missing from the price list.
    """

    template_fields: Sequence[str] = (
        "coinstats_conn_id",
        "endpoint",
        "query",
        "json",
        "output_path",
    )
    template_fields_renderers = {"query": "json", "json": "json"}
    ui_color = "#e6f7ec"

    def __init__(
        self,
        *,
        endpoint: str,
        method: str = "GET",
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        paginate: bool = False,
        max_pages: int = DEFAULT_MAX_PAGES,
        output_path: str | None = None,
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        coinstats_conn_id: str = CoinStatsHook.default_conn_name,
        price_overrides: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.method = method
        self.query = query
        self.json = json
        self.paginate = paginate
        self.max_pages = max_pages
        self.output_path = output_path
        self.max_xcom_bytes = max_xcom_bytes
        self.coinstats_conn_id = coinstats_conn_id
        self.price_overrides = price_overrides
        self._check_literals()

    def _check_literals(self) -> None:
        """Cheap checks of what is final at parse (no connection, no HTTP, no storage): a typo
        should break the DAG import, not a run. Templated values and XComArgs are checked once
        rendered; nothing stored is changed."""
        from airflow_provider_coinstats.common.literals import is_literal
        from airflow_provider_coinstats.credits.estimates import estimate_credits

        _positive_int("max_pages", self.max_pages)
        _positive_int("max_xcom_bytes", self.max_xcom_bytes)
        if is_literal(self.endpoint):
            # Prices the endpoint too: an unknown one fails here, naming price_overrides.
            estimate_credits(
                self.http_method, _endpoint(self.endpoint), price_overrides=self.price_overrides
            )
        if self.output_path is not None and is_literal(self.output_path):
            _output_url(self.output_path)

    @property
    def http_method(self) -> str:
        """``method`` upper-cased, checked against the methods CoinStats serves."""
        verb = str(self.method).strip().upper()
        if verb not in HTTP_METHODS:
            raise CoinStatsConfigError(
                f"method must be one of {', '.join(HTTP_METHODS)}, got {self.method!r}"
            )
        return verb

    @cached_property
    def hook(self) -> CoinStatsHook:
        return CoinStatsHook(coinstats_conn_id=self.coinstats_conn_id)

    def planned_calls(self) -> list[dict[str, Any]]:
        """The calls this task may make, in the form ``CreditBudgetSensor(required_credits=...)``
        and :func:`~airflow_provider_coinstats.credits.estimate_plan` take: one call, ``max_pages``
        times when paginating (the worst case, since the page count is known only afterwards).

        State the calls once and feed both::

            pull = CoinStatsOperator(task_id="pull", endpoint="/coins", paginate=True, ...)
            gate = CreditBudgetSensor(task_id="gate", required_credits=pull.planned_calls())
            gate >> pull
        """
        call: dict[str, Any] = {
            "method": self.http_method,
            "path": self.endpoint,
            "times": self.max_pages if self.paginate else 1,
        }
        if self.query:
            call["params"] = dict(self.query)
        if self.json is not None:
            call["json"] = self.json
        return [call]

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_coinstats.credits.estimates import estimate_plan

        endpoint = _endpoint(self.endpoint)
        query = _query_mapping(self.query)
        # Resolve the output before spending credits: a bad path should cost nothing.
        target = None if self.output_path is None else _storage_path(self.output_path)
        pull = _Pull(method=self.http_method, endpoint=endpoint)
        if self.paginate:
            data: Any = self._walk(pull, query, xcom_bound=target is None)
        else:
            data = self._call(pull, query, f"CoinStats {self.http_method} {endpoint}")
        # The attributes are rendered by now, so this is the gate's figure for this very run.
        planned = estimate_plan(self.planned_calls(), self.price_overrides)
        self.log.info(
            "CoinStats %s %s: %d call%s cost %s credits by the price list (planned at most %s)",
            self.http_method,
            endpoint,
            pull.calls,
            "" if pull.calls == 1 else "s",
            f"{pull.credits:,}",
            f"{planned:,}",
        )
        encoded = jsonlib.dumps(data, separators=(",", ":")).encode()
        result: dict[str, Any] = {
            "method": self.http_method,
            "endpoint": endpoint,
            "calls": pull.calls,
            "items": len(data) if isinstance(data, list) else None,
            "truncated": pull.truncated,
            "estimated_credits": pull.credits,
            "planned_credits": planned,
            "bytes": len(encoded),
        }
        if target is not None:
            _write(target, encoded)
            self.log.info(
                "CoinStats %s %s: wrote %s bytes to %s",
                self.http_method,
                endpoint,
                f"{len(encoded):,}",
                target,
            )
            return {**result, "output_path": str(target)}
        if len(encoded) > self.max_xcom_bytes:
            raise self._too_big(pull, len(encoded), "is")
        return {**result, "data": data}

    def _call(self, pull: _Pull, query: Mapping[str, Any], label: str) -> Any:
        """Price one call, send it, log what it cost."""
        from airflow_provider_coinstats.api.models import whole
        from airflow_provider_coinstats.credits.estimates import estimate_credits

        cost = estimate_credits(
            self.http_method, pull.endpoint, query, self.json, price_overrides=self.price_overrides
        )
        answer = self.hook.request(self.http_method, pull.endpoint, params=query, json=self.json)
        pull.calls += 1
        pull.credits = whole(pull.credits + cost)
        items = answer.get("result") if isinstance(answer, Mapping) else answer
        size = f" ({len(items)} items)" if isinstance(items, list) else ""
        self.log.info("%s: %s credits%s", label, f"{cost:,}", size)
        return answer

    def _walk(self, pull: _Pull, query: Mapping[str, Any], *, xcom_bound: bool) -> list[Any]:
        """Fetch pages until the last one or ``max_pages``; return their items in order."""
        page = _positive_int("query['page']", query.get("page", 1))
        limit = _optional_int(query.get("limit"))
        items: list[Any] = []
        seen_bytes = 0
        while True:
            label = f"CoinStats {self.http_method} {pull.endpoint} page {page}"
            answer = self._call(pull, {**query, "page": page}, label)
            page_items, meta = _page_of(answer, self.http_method, pull.endpoint)
            items.extend(page_items)
            if xcom_bound:
                # Stop spending credits as soon as the result cannot go to XCom anyway.
                seen_bytes += len(jsonlib.dumps(page_items, separators=(",", ":")).encode())
                if seen_bytes > self.max_xcom_bytes:
                    raise self._too_big(pull, seen_bytes, "is already")
            if _is_last_page(page, page_items, meta, limit):
                return items
            if pull.calls >= self.max_pages:
                pull.truncated = True
                self.log.warning(
                    "CoinStats %s %s: stopped at max_pages=%d (page %d) although more pages "
                    "remain; the result is truncated (truncated=true in XCom). Raise max_pages "
                    "to fetch them all; the gate's estimate grows with it.",
                    self.http_method,
                    pull.endpoint,
                    self.max_pages,
                    page,
                )
                return items
            page += 1

    def _too_big(self, pull: _Pull, size: int, verb: str) -> AirflowFailException:
        # No retries: a retry would spend the same credits on the same oversized answer.
        return AirflowFailException(
            f"CoinStats {pull.method} {pull.endpoint}: the result {verb} {size:,} bytes of JSON, "
            f"over max_xcom_bytes={self.max_xcom_bytes:,}. Set output_path (e.g. "
            f"'file:///data/coinstats/{{{{ ds }}}}.json' or an s3:// URL) to write it to storage "
            f"instead, or raise max_xcom_bytes. {pull.calls} call(s) so far cost "
            f"{pull.credits:,} credits."
        )


class _Pull:
    """What one execution has spent so far. (A plain class: a dataclass costs a DAG file's
    import about a millisecond to create.)"""

    __slots__ = ("calls", "credits", "endpoint", "method", "truncated")

    def __init__(self, *, method: str, endpoint: str) -> None:
        self.method = method
        self.endpoint = endpoint
        self.calls = 0
        self.credits: Credits = 0
        self.truncated = False


def _endpoint(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CoinStatsConfigError(
            f"endpoint should be an API path such as '/coins', got {value!r}"
        )
    endpoint = "/" + value.strip().lstrip("/")
    if "://" in endpoint or "?" in endpoint:
        raise CoinStatsConfigError(
            f"endpoint should be a path such as '/coins', without host or query string, got "
            f"{value!r}; pass query parameters as query={{...}}"
        )
    return endpoint


def _query_mapping(value: Any) -> Mapping[str, Any]:
    from airflow_provider_coinstats.api.validation import mapping

    if value is None:
        return {}
    return mapping(
        "query",
        value,
        example="{'limit': 100}",
        hint="(template its values, not the whole mapping)",
    )


def _positive_int(name: str, value: Any) -> int:
    from airflow_provider_coinstats.api.validation import number

    return int(number(name, value, minimum=1, whole=True, strings=True))


def _optional_int(value: Any) -> int | None:
    """A whole number from an int or a digit string (CoinStats' ``meta``, a rendered query),
    else None."""
    from airflow_provider_coinstats.api.validation import number

    try:
        return int(number("", value, minimum=0, whole=True, strings=True))
    except CoinStatsConfigError:
        return None


def _page_of(answer: Any, method: str, endpoint: str) -> tuple[list[Any], Mapping[str, Any] | None]:
    """The items of one page and CoinStats' ``meta`` (None when the answer has none)."""
    if isinstance(answer, list):
        return answer, None
    if isinstance(answer, Mapping) and isinstance(answer.get("result"), list):
        meta = answer.get("meta")
        return answer["result"], meta if isinstance(meta, Mapping) else None
    raise CoinStatsConfigError(
        f"paginate=True, but {method} {endpoint} answered {type(answer).__name__} without a "
        "'result' list, so it has no pages to walk; set paginate=False"
    )


def _is_last_page(
    page: int, items: list[Any], meta: Mapping[str, Any] | None, limit: int | None
) -> bool:
    if not items:
        return True
    if meta is not None:
        if isinstance(meta.get("hasNextPage"), bool):
            return not meta["hasNextPage"]
        page_count = _optional_int(meta.get("pageCount"))
        if page_count is not None:
            return page >= page_count
        limit = limit or _optional_int(meta.get("limit"))
    # Without meta, a short page is the last; without a limit only an empty page tells.
    return limit is not None and len(items) < limit


def _storage_path(value: Any) -> ObjectStoragePath:
    """Where to write, built when the task runs: on Airflow 3.3 an ObjectStoragePath attaches
    its filesystem (a connection lookup), which a DAG parse must not do."""
    # airflow.sdk resolves ObjectStoragePath lazily, on first use.
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(_output_url(value))


def _output_url(value: Any) -> str:
    """``output_path`` as a URL: an absolute local path becomes a ``file://`` URL; relative
    paths are refused, since a worker's working directory is nobody's choice."""
    if not isinstance(value, str) or not value.strip():
        raise CoinStatsConfigError(
            f"output_path should be a path or URL such as 'file:///data/coins.json', got {value!r}"
        )
    text = value.strip()
    if "://" not in text:
        if not text.startswith("/"):
            raise CoinStatsConfigError(
                f"output_path {value!r} is relative; give an absolute path or a URL such as "
                "'file:///data/coins.json' or 's3://aws_default@bucket/coins.json'"
            )
        text = f"file://{text}"
    return text


def _write(target: ObjectStoragePath, encoded: bytes) -> None:
    if target.protocol in ("file", "local", ""):
        # Object stores have no directories to create; a local disk does.
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(encoded)
