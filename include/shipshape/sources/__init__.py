"""One folder per source system (client, pagination, rate limiting, raw row schema, streams).

Adding a source means adding a folder here whose package exports `STREAMS`; the ingest runner and
the `shipshape_ingest` DAG find it by itself.
"""
