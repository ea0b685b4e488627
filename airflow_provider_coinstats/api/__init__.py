"""The CoinStats API client layer: plain Python, no Airflow.

``client`` (the only HTTP code), ``config`` (connection settings and their validation),
``retry`` (the one retry policy), ``pacing`` (per-connection token buckets), ``models`` (typed
answers) and ``exceptions`` (the error tree). Usable on its own::

    from airflow_provider_coinstats.api.client import CoinStatsClient
    from airflow_provider_coinstats.api.config import ClientConfig

    with CoinStatsClient(ClientConfig(api_key="...")) as client:
        print(client.get_credit_usage().summary())

Nothing is imported here, so that importing one module (e.g. ``config`` for the provider
registration) does not load ``requests``.
"""
