"""Apache Airflow provider for the CoinStats Public API.

Importing this package is cheap: it does not import Airflow. The Airflow-facing pieces live in
``hooks``, ``operators``, ``sensors`` and ``triggers``; ``client``, ``models``, ``budget``,
``credits`` and ``exceptions`` are plain Python and usable outside Airflow.
"""

__version__ = "0.1.0"
