"""An offline CoinStats API emulator for tests and demos: real HTTP on 127.0.0.1 only.

::

    from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox

    with Sandbox(total_credits=100_000, used_credits=45_000) as sandbox:
        ...  # point a client at sandbox.url with X-API-KEY: sandbox.api_key
        sandbox.inject(Fault("status", status=503, with_request_id=False))
        sandbox.set_credits(used=0)

It charges every call what :func:`~airflow_provider_coinstats.credits.estimate_credits` says,
so estimates and charges agree by construction.
``python -m airflow_provider_coinstats.testing.sandbox`` runs one from the command line;
:class:`SandboxControl` drives one from another process.

Modules: ``server`` (HTTP and :class:`Sandbox`), ``endpoints`` and ``data`` (what the API
answers), ``faults`` and ``responses`` (failures and error bodies), ``state`` (credits, rate
limit, request log), ``control`` (the ``/_sandbox`` control API and its client).
"""

from airflow_provider_coinstats.testing.sandbox.control import SandboxControl
from airflow_provider_coinstats.testing.sandbox.faults import FAULT_KINDS, Fault
from airflow_provider_coinstats.testing.sandbox.server import Sandbox
from airflow_provider_coinstats.testing.sandbox.state import RequestRecord

__all__ = ["FAULT_KINDS", "Fault", "RequestRecord", "Sandbox", "SandboxControl"]
