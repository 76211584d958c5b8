"""Alerts after each reconcile run: a short digest, sent once per run, when something needs a person.

* :mod:`shipshape.alerts.digest` builds it from the warehouse (no Airflow);
* :mod:`shipshape.alerts.store` records it and where it went (`ops.alert_digests`, `ops.alert_deliveries`);
* :mod:`shipshape.alerts.notify` sends it through Airflow's SMTP and Slack notifiers (imports Airflow).
"""
