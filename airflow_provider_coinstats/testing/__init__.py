"""Test utilities, shipped so that users' own DAG tests can use them too.

``testing.sandbox`` is an offline CoinStats stand-in on 127.0.0.1 (``python -m
airflow_provider_coinstats.testing.sandbox``). Nothing here is imported by the provider at run
time.
"""
