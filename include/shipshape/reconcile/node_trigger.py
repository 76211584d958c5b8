"""The trigger that ends a dbt node's task in the triggerer, without a worker, when its node succeeded.

In Cosmos's watcher mode every model, seed and test sensor of `shipshape_reconcile` only reads its node's
result from the producer's XCom: the producer's one `dbt build` did the work. In a deployment each of
those ~115 reads would still be a task process of its own (a LocalExecutor worker forks, the task parses
the DAG file and reports back through the API), about a second of a worker slot each on two cores: most
of a reconcile run's wall time in the real scheduler (docs/benchmarks.md). With
``start_from_trigger`` the scheduler hands such a task straight to the triggerer, where this trigger,
Cosmos's own ``WatcherTrigger``, reads the node's result in the triggerer's event loop and

* ends the task successfully there (``TaskSuccessEvent``) when the node succeeded (one XCom read);
* otherwise resumes it on a worker with Cosmos's event, so a failed node fails at its own task with
  Cosmos's message and a skipped one is skipped (``execute_complete``);
* on a retry or a clear (try 2 onwards) resumes it on a worker at once as if the producer had been
  skipped, so Cosmos's sensor runs dbt for that node alone, as it does without this trigger.

`dag.test()` never starts tasks from triggers: there every sensor runs its usual ``execute``.
:func:`shipshape.reconcile.cosmos.wire_watcher` attaches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TaskSuccessEvent, TriggerEvent
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import is_dbt_node_status_success
from cosmos.operators._watcher.triggerer import WatcherEventReason, WatcherTrigger

CLASSPATH = f"{__name__}.NodeResultTrigger"

# The producer has finished when these tasks start (it is upstream of every root sensor), so the first
# poll normally finds the result; the interval only matters if a sensor was started early by hand.
POKE_INTERVAL = 1.0


class NodeResultTrigger(WatcherTrigger):
    """Cosmos's ``WatcherTrigger`` for a task started from the triggerer: the run it belongs to comes from
    the task instance the triggerer gives it, not from the kwargs (they are fixed when the DAG is
    serialized, before any run exists)."""

    def __init__(self, model_unique_id: str, producer_task_id: str, is_test_sensor: bool = False,
                 poke_interval: float = POKE_INTERVAL, dag_id: str | None = None, run_id: str | None = None,
                 map_index: int | None = None, **kwargs: Any) -> None:
        super().__init__(model_unique_id=model_unique_id, producer_task_id=producer_task_id,
                         dag_id=dag_id or "", run_id=run_id or "", map_index=map_index,
                         poke_interval=poke_interval, is_test_sensor=is_test_sensor, **kwargs)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"model_unique_id": self.model_unique_id, "producer_task_id": self.producer_task_id,
                           "is_test_sensor": self.is_test_sensor, "poke_interval": self.poke_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = self.task_instance
        self.dag_id, self.run_id = ti.dag_id, ti.run_id
        self.map_index = ti.map_index  # -1 unmapped: what Cosmos's sensors read the producer's XComs with
        if ti.try_number > 1:
            # a retry or a clear: Cosmos's sensor runs its node with dbt itself when the producer is over
            yield TriggerEvent({"status": EventStatus.FAILED, "reason": WatcherEventReason.PRODUCER_SKIPPED})
            return
        # the usual case in one XCom read (Cosmos's own loop reads the dbt start-up events, the producer's
        # state and the compiled SQL first: five round trips through the API server a task, all of them
        # queued behind one thread of the triggerer)
        if is_dbt_node_status_success(await self._node_status()):
            self.log.info("dbt node %s succeeded in the producer's build", self.model_unique_id)
            yield TaskSuccessEvent()
            return
        async for event in super().run():
            yield event  # failed, skipped, or the producer gone: Cosmos's sensor takes it on a worker
            return

    async def _node_status(self) -> Any:
        if self.is_test_sensor:
            return await self.get_xcom_val(get_tests_status_xcom_key(self.model_unique_id))
        return await self._get_node_status()
