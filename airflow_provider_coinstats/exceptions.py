"""The provider's error tree, at its public import path.

The classes live in :mod:`airflow_provider_coinstats.api.exceptions` (the client layer, which
imports no Airflow); this module keeps ``from airflow_provider_coinstats.exceptions import ...``
working.
"""

from airflow_provider_coinstats.api.exceptions import (
    KEYS_URL,
    CoinStatsAPIError,
    CoinStatsAuthError,
    CoinStatsBudgetError,
    CoinStatsConfigError,
    CoinStatsConnectionError,
    CoinStatsCreditsExhaustedError,
    CoinStatsError,
    CoinStatsInconsistentCreditsError,
    CoinStatsInsufficientCreditsError,
    CoinStatsRateLimitError,
    CoinStatsRequestError,
    CoinStatsResponseError,
    CoinStatsServerError,
    CoinStatsTimeoutError,
)

__all__ = [
    "KEYS_URL",
    "CoinStatsAPIError",
    "CoinStatsAuthError",
    "CoinStatsBudgetError",
    "CoinStatsConfigError",
    "CoinStatsConnectionError",
    "CoinStatsCreditsExhaustedError",
    "CoinStatsError",
    "CoinStatsInconsistentCreditsError",
    "CoinStatsInsufficientCreditsError",
    "CoinStatsRateLimitError",
    "CoinStatsRequestError",
    "CoinStatsResponseError",
    "CoinStatsServerError",
    "CoinStatsTimeoutError",
]
