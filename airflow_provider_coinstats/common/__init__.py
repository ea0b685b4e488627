"""Airflow-side helpers shared by the hook, operators, sensor and trigger.

``gate`` (what a credit gate does with one reading, for poke and trigger alike), ``polling``
(one shared credit reading per connection in the triggerer), ``reservations`` (the credits
passed gates hold, per connection, in an Airflow Variable), ``params`` (task parameters that
may be templates) and ``metrics`` (credit gauges through Airflow's Stats). They import Airflow
only inside the functions that need it.
"""
