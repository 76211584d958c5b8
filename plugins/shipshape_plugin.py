"""The shipshape Airflow plugin: the console and the Data Docs in the UI's navigation, the Data Docs
served under Airflow's address, and the reconcile tasks' links to both (see `shipshape.airflow_ui`).

Airflow loads it from `[core] plugins_folder`: `shipshape up` points that at this folder, and
docker-compose.yaml mounts it at /opt/airflow/plugins. Thin on purpose: what it adds is built in the
shipshape package.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from shipshape import airflow_ui, links


class ShipshapePlugin(AirflowPlugin):
    name = "shipshape"
    external_views = links.navigation()
    fastapi_apps = airflow_ui.built_on_first_read(airflow_ui.fastapi_apps)
    operator_extra_links = [airflow_ui.ConsoleLink(), airflow_ui.DataDocsLink()]
