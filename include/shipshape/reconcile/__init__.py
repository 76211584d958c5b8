"""The reconcile stage: what `shipshape_reconcile` needs beyond dbt itself (Cosmos wiring)."""
