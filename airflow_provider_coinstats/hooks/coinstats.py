"""CoinStatsHook: turns an Airflow connection into a configured CoinStats client.

The hook is the only place that reads a connection. Operators, sensors and triggers call its
domain methods (``get_credit_usage()``, ``request(...)``) and never build URLs or headers.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_coinstats.api.config import ClientConfig
from airflow_provider_coinstats.api.exceptions import CoinStatsError

try:
    from airflow.sdk.log import amask_secret  # type: ignore[attr-defined]  # 3.3+
except ImportError:  # Airflow 3.2: the sync call may block on the supervisor, so run it aside

    async def amask_secret(secret: Any, name: str | None = None) -> None:  # type: ignore[misc]
        # asgiref's thread, not asyncio.to_thread: in the triggerer the sync call reaches the
        # supervisor through async_to_sync, which only from an asgiref thread runs on this loop
        # (under its comms lock); from any other thread it interleaves frames with the loop's
        # own calls and kills the trigger runner ("Response read out of order").
        from asgiref.sync import sync_to_async

        await sync_to_async(mask_secret)(secret, name)


if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Connection

    from airflow_provider_coinstats.api.client import CoinStatsClient
    from airflow_provider_coinstats.api.models import CreditUsage


class CoinStatsHook(BaseHook):
    """Talk to the CoinStats Public API with the key held in an Airflow connection.

    The connection (type ``coinstats``) keeps the API key in its password field; its host is an
    optional base URL (default ``https://openapiv1.coinstats.app/v1``) and its extras tune
    ``timeout``, ``max_retries``, ``requests_per_second`` and ``auth_type``.

    :param coinstats_conn_id: the connection to use.
    """

    conn_name_attr = "coinstats_conn_id"
    default_conn_name = "coinstats_default"
    conn_type = "coinstats"
    hook_name = "CoinStats"

    def __init__(self, coinstats_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.coinstats_conn_id = coinstats_conn_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(coinstats_conn_id={self.coinstats_conn_id!r})"

    @staticmethod
    def config_from_connection(conn: Connection, extra: Mapping[str, Any]) -> ClientConfig:
        """Validate a connection's fields into client settings."""
        return ClientConfig.from_connection_fields(
            conn.conn_id,
            host=conn.host,
            password=conn.password,
            extra=extra,
            port=conn.port,
            schema=conn.schema,
        )

    @classmethod
    async def aclient(cls, coinstats_conn_id: str) -> CoinStatsClient:
        """Build a client inside an event loop (the triggerer) without blocking it.

        Connection, extras and masking go through their async forms: their sync forms message
        the supervisor and can deadlock a loop that has another call in flight.
        """
        # Imported here, not at the top: a DAG file importing the hook must not pay for them.
        from airflow.providers.common.compat.connection import (
            get_async_connection,
            get_async_extra_dejson,
        )

        from airflow_provider_coinstats.api.client import CoinStatsClient

        conn = await get_async_connection(coinstats_conn_id, cls)
        config = cls.config_from_connection(conn, await get_async_extra_dejson(conn))
        await amask_secret(config.api_key)
        return cls._metered(CoinStatsClient(config))

    @cached_property
    def client(self) -> CoinStatsClient:
        """The configured client, built on first use (never while a DAG file is parsed)."""
        # requests loads here, when a task runs, not when a DAG file imports the hook.
        from airflow_provider_coinstats.api.client import CoinStatsClient

        conn = self.get_connection(self.coinstats_conn_id)
        config = self.config_from_connection(conn, conn.extra_dejson)
        # The worker masks connection passwords itself; the CLI and the API server do not.
        mask_secret(config.api_key)
        return self._metered(CoinStatsClient(config))

    @staticmethod
    def _metered(client: CoinStatsClient) -> CoinStatsClient:
        """Price every request the client sends into the task's spend meter, whoever calls it
        (our operators, the sensor, a user's ``hook.request`` or ``hook.client``)."""
        from airflow_provider_coinstats.common.spend import meter_client

        meter_client(client)
        return client

    def get_conn(self) -> CoinStatsClient:
        """Airflow's generic accessor: the configured :class:`CoinStatsClient`."""
        return self.client

    def get_credit_usage(self) -> CreditUsage:
        """Credit figures of the current billing period (``GET /usage/credits``, free).

        Each reading also feeds the connection's readings history (see
        :mod:`~airflow_provider_coinstats.common.readings`).
        """
        from airflow_provider_coinstats.common.readings import record_reading

        usage = self.client.get_credit_usage()
        record_reading(self.coinstats_conn_id, usage)
        return usage

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Call any CoinStats endpoint and return its parsed JSON.

        :param method: HTTP method, e.g. ``GET``.
        :param path: endpoint path without the ``/v1`` prefix, e.g. ``/coins``.
        :param params: query parameters; lists are sent comma-separated.
        :param json: request body for POST/PATCH endpoints.
        """
        return self.client.request(method, path, params=params, json=json)

    def test_connection(self) -> tuple[bool, str]:
        """Check the key with the free ``/usage/credits`` endpoint (Airflow's Test button).

        The UI's Test tests a copy of the connection under a random 8-character id, exported
        as ``AIRFLOW_CONN_<ID>`` for the test only; a message naming that id would name no
        connection the user knows, so it says "this connection" instead.
        """
        import os
        import re

        try:
            usage = self.get_credit_usage()
        except CoinStatsError as error:
            message = str(error)
            conn_id = self.coinstats_conn_id
            temporary = re.fullmatch(r"[A-Za-z0-9]{8}", conn_id) is not None
            if temporary and f"AIRFLOW_CONN_{conn_id.upper()}" in os.environ:
                for quoted in (repr(conn_id), conn_id):
                    message = message.replace(f"Connection {quoted}", "This connection")
                    message = message.replace(f"connection {quoted}", "this connection")
            return False, message
        return True, f"Connection works. {usage.summary()}"
