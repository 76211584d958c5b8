"""Ingest: extract every source stream into `raw.<source>__<stream>`, incrementally and idempotently."""
