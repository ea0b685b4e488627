"""An offline CoinStats API emulator for tests and demos: real HTTP on 127.0.0.1 only.

::

    from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox

    with Sandbox(total_credits=100_000, used_credits=45_000) as sandbox:
        ...  # point a client at sandbox.url with X-API-KEY: sandbox.api_key
        sandbox.inject(Fault("status", status=503, with_request_id=False))
        sandbox.set_credits(used=0)

It answers every operation of CoinStats' OpenAPI description (and the newer ones CoinStats'
clients call) with schema-valid data, refuses what the spec's parameter rules refuse, and charges
every call what :func:`~airflow_provider_coinstats.credits.estimate_credits` says, so estimates
and charges agree by construction.
``python -m airflow_provider_coinstats.testing.sandbox`` runs one from the command line;
:class:`SandboxControl` drives one from another process.

Modules: ``server`` (HTTP and :class:`Sandbox`); ``params`` (each endpoint's parameter rules,
checked before charging); ``endpoints``, ``routes_wallet`` and ``routes_portfolio`` (what each
endpoint answers), ``request`` (what a handler receives); ``data``, ``market``, ``nfts`` and
``ledger`` (the generated data; ``ledger`` derives values, charts and transactions from
holdings); ``accounts`` (portfolios and syncs) and ``clock`` (the sandbox's time); ``faults``
and ``responses`` (failures and error bodies); ``state`` (credits, rate limit, request log);
``control`` (the ``/_sandbox`` control API and its client); ``contract`` (the check against
CoinStats' OpenAPI description).
"""

from airflow_provider_coinstats.testing.sandbox.control import SandboxControl
from airflow_provider_coinstats.testing.sandbox.faults import FAULT_KINDS, Fault
from airflow_provider_coinstats.testing.sandbox.server import Sandbox
from airflow_provider_coinstats.testing.sandbox.state import RequestRecord

__all__ = ["FAULT_KINDS", "Fault", "RequestRecord", "Sandbox", "SandboxControl"]
