"""The credit domain: budgets and pacing, the price list and estimates. No Airflow, no HTTP.

``budget`` (:class:`CreditBudget`, the pure gate decision), ``prices`` (what each endpoint
costs, data only) and ``estimates`` (:func:`estimate_credits`, :func:`estimate_plan`).
"""

from airflow_provider_coinstats.credits.budget import BudgetDecision, CreditBudget
from airflow_provider_coinstats.credits.estimates import estimate_credits, estimate_plan

__all__ = ["BudgetDecision", "CreditBudget", "estimate_credits", "estimate_plan"]
