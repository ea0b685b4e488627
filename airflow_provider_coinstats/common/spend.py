"""Where a task's credits went: the per-process spend meter and the task-end recorder.

Every client the hook builds carries a requests response hook (:func:`meter_client`) that prices
each answered attempt from the price list and adds it to :data:`METER`, a process-global meter
keyed by connection and endpoint. Only an attempt CoinStats answers with success (2xx) is
counted: that is what it charges (the sandbox charges the same way), so a 429 or a 503 that the
client retries costs nothing here either. Free endpoints (``GET /usage/credits``) are not metered.

When the task ends, the listener (:mod:`~airflow_provider_coinstats.plugins.spend_listener`) calls
:func:`record_task_end`, which drains the meter and, when a priced call went out:

- pushes XCom ``coinstats_spend`` (:func:`spend_record` describes the value);
- logs one line, e.g. ``CoinStats: spent 126 credits in 3 calls: GET /coins x3``;
- sends ``coinstats.credits.spent`` and ``coinstats.credits.calls`` through Airflow's Stats;
- for a failed try also appends the record to the Variable :data:`FAILED_TRIES_VARIABLE`: Airflow
  clears a task instance's XComs when its next try starts, so a retried try's spend would vanish.

Airflow runs one task per process, except ``airflow dags test`` which runs them all in one: the
listener resets the meter when a task starts, so spend is never carried over to the next task.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_coinstats.api.models import Credits, whole

if TYPE_CHECKING:
    import requests

    from airflow_provider_coinstats.api.client import CoinStatsClient

log = logging.getLogger(__name__)

#: The XCom key a task's spend record is pushed under.
XCOM_KEY = "coinstats_spend"
#: The Variable keeping failed tries' records: JSON ``{"version": 1, "records": [...]}``.
FAILED_TRIES_VARIABLE = "coinstats_spend_failed_tries"
#: Bounds of that Variable: the newest records only, none older than this.
FAILED_TRIES_KEEP = 1000
FAILED_TRIES_MAX_AGE = timedelta(days=400)
RECORD_VERSION = 1

# Per connection, per endpoint: [calls, credits], e.g. {"conn": {"GET /coins": [3, 6]}}.
Tally = dict[str, dict[str, list[Credits]]]


class SpendMeter:
    """Credits and calls per connection and endpoint, added from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tally: Tally = {}

    def add(self, conn_id: str, endpoint: str, credits: Credits) -> None:
        with self._lock:
            entry = self._tally.setdefault(conn_id, {}).setdefault(endpoint, [0, 0])
            entry[0] += 1
            entry[1] = whole(entry[1] + credits)

    def snapshot(self) -> Tally:
        with self._lock:
            return {
                conn: {key: list(v) for key, v in eps.items()} for conn, eps in self._tally.items()
            }

    def drain(self) -> Tally:
        """What was metered since the last drain, and a fresh start."""
        with self._lock:
            tally, self._tally = self._tally, {}
        return tally

    def reset(self) -> None:
        self.drain()


METER = SpendMeter()
_warned_unpriced: set[str] = set()


def meter_client(client: CoinStatsClient, meter: SpendMeter | None = None) -> None:
    """Price every successful answer ``client`` gets into ``meter`` (default :data:`METER`)."""
    conn_id = client.config.conn_id or client.config.base_url
    base_url = client.config.base_url

    def on_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code < 300:
            _meter_answer(meter or METER, conn_id, base_url, response)

    client.session.hooks["response"].append(on_response)


def _meter_answer(
    meter: SpendMeter, conn_id: str, base_url: str, response: requests.Response
) -> None:
    # A pricing problem must never fail the request it describes.
    from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError
    from airflow_provider_coinstats.credits.estimates import (
        estimate_credits,
        normalize_path,
        resolve_endpoint,
    )

    request = response.request
    method = (request.method or "GET").upper()
    url = request.url or ""
    path = url[len(base_url) :] if url.startswith(base_url) else url
    endpoint = resolve_endpoint(method, path)
    key = endpoint.key if endpoint is not None else f"{method} {normalize_path(path)}"
    try:
        credits = estimate_credits(method, path, None, _json_body(request.body))
    except CoinStatsConfigError:
        credits = 0
        if key not in _warned_unpriced:
            _warned_unpriced.add(key)
            log.warning("CoinStats: no price known for %s; its calls are counted at 0 credits", key)
    if credits == 0 and endpoint is not None:
        return  # a free endpoint (GET /usage/credits): not spend
    meter.add(conn_id, key, credits)


def _json_body(body: object) -> object:
    if not body:
        return None
    try:
        return json.loads(body)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def spend_record(
    tally: Tally,
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    try_number: int,
    state: str,
    ended_at: datetime,
) -> dict[str, Any]:
    """The ``coinstats_spend`` value (format version 1)::

    {"version": 1, "dag_id", "task_id", "run_id", "map_index", "try_number",
     "state": "success" | "failed", "ended_at": ISO-8601 UTC, "credits": total, "calls": total,
     "connections": {conn_id: {"credits": n, "calls": n,
                               "endpoints": {"GET /coins": {"calls": n, "credits": n}}}}}
    """
    connections: dict[str, Any] = {}
    for conn_id, endpoints in sorted(tally.items()):
        per_endpoint = {
            key: {"calls": int(calls), "credits": whole(credits)}
            for key, (calls, credits) in sorted(endpoints.items())
        }
        connections[conn_id] = {
            "credits": whole(sum(e["credits"] for e in per_endpoint.values())),
            "calls": sum(e["calls"] for e in per_endpoint.values()),
            "endpoints": per_endpoint,
        }
    return {
        "version": RECORD_VERSION,
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "map_index": map_index,
        "try_number": try_number,
        "state": state,
        "ended_at": ended_at.astimezone(UTC).isoformat(),
        "credits": whole(sum(c["credits"] for c in connections.values())),
        "calls": sum(c["calls"] for c in connections.values()),
        "connections": connections,
    }


def describe_spend(record: Mapping[str, Any]) -> str:
    """One line: ``spent 126 credits in 3 calls: GET /coins x3`` (endpoints by credits, desc)."""
    endpoints: dict[str, list[Credits]] = {}
    for conn in record["connections"].values():
        for key, figures in conn["endpoints"].items():
            entry = endpoints.setdefault(key, [0, 0])
            entry[0] += figures["calls"]
            entry[1] += figures["credits"]
    parts = [
        f"{key} x{int(calls)}"
        for key, (calls, credits) in sorted(endpoints.items(), key=lambda kv: (-kv[1][1], kv[0]))
    ]
    calls = record["calls"]
    noun = "call" if calls == 1 else "calls"
    conns = record["connections"]
    where = f" on {', '.join(conns)}" if len(conns) > 1 else ""
    return f"spent {whole(record['credits'])} credits in {calls} {noun}{where}: {', '.join(parts)}"


def record_task_end(ti: Any, state: str, meter: SpendMeter | None = None) -> dict[str, Any] | None:
    """Drain the meter into ``ti``'s spend record: XCom, log line, metrics, failed-try ledger.

    ``ti`` is the task process's RuntimeTaskInstance. Returns the record, or None when no priced
    call went out. Never raises: a task's outcome must not depend on its bookkeeping.
    """
    tally = (meter or METER).drain()
    if not tally:
        return None
    try:
        record = spend_record(
            tally,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
            try_number=ti.try_number,
            state=state,
            ended_at=datetime.now(UTC),
        )
    except Exception:
        log.warning("CoinStats: could not build the spend record", exc_info=True)
        return None
    log.info("CoinStats: %s", describe_spend(record))
    _guarded("push the spend record to XCom", lambda: ti.xcom_push(key=XCOM_KEY, value=record))
    from airflow_provider_coinstats.common.metrics import emit_spend

    emit_spend(record)
    if state == "failed":
        _guarded("keep the failed try's spend", lambda: append_failed_try(record))
    return record


def _guarded(what: str, action: Any) -> None:
    try:
        action()
    except Exception:
        log.warning("CoinStats: could not %s", what, exc_info=True)


def try_key(record: Mapping[str, Any]) -> tuple[str, str, str, int, int]:
    """What identifies one try's record (to merge XCom records with the failed-try ledger)."""
    return (
        record["dag_id"],
        record["task_id"],
        record["run_id"],
        record["map_index"],
        record["try_number"],
    )


def merge_failed_try(
    records: list[dict[str, Any]], record: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """``records`` with ``record`` in (replacing the same try's), bounded; pure."""
    oldest = (now - FAILED_TRIES_MAX_AGE).isoformat()
    kept = [
        r
        for r in records
        if isinstance(r, dict) and r.get("ended_at", "") >= oldest and try_key(r) != try_key(record)
    ]
    kept.append(record)
    kept.sort(key=lambda r: r["ended_at"])
    return kept[-FAILED_TRIES_KEEP:]


def parse_failed_tries(text: str | None) -> list[dict[str, Any]]:
    """The records in the Variable's text; empty for none or a damaged value."""
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    records = data.get("records") if isinstance(data, dict) else None
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def append_failed_try(record: dict[str, Any], attempts: int = 3) -> None:
    """Add a failed try's record to :data:`FAILED_TRIES_VARIABLE`.

    Read, merge, write, then read back: another task ending at the same moment may have written
    over us, so a missing record is merged in again (up to ``attempts`` times). Idempotent: the
    same try's record replaces itself.
    """
    from airflow.sdk import Variable

    for _ in range(attempts):
        records = parse_failed_tries(Variable.get(FAILED_TRIES_VARIABLE, default=None))
        merged = merge_failed_try(records, record, datetime.now(UTC))
        Variable.set(FAILED_TRIES_VARIABLE, json.dumps({"version": 1, "records": merged}))
        written = parse_failed_tries(Variable.get(FAILED_TRIES_VARIABLE, default=None))
        if any(try_key(r) == try_key(record) for r in written):
            return
    log.warning("CoinStats: the failed try's spend record was overwritten by a concurrent write")
