"""The provider's Airflow plugin (loaded through the ``airflow.plugins`` entry point)."""
