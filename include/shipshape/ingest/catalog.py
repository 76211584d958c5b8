"""Every stream of every source folder, found by itself: adding a folder under `shipshape.sources` whose
package exports `STREAMS` adds its tasks to the DAG. Importing a source package only defines classes
(no connection, no network), so DAG files can call this at parse time."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from shipshape.ingest.stream import Stream


@cache
def all_streams() -> dict[str, Stream]:
    """Streams by "<source>.<stream>", sources in name order."""
    import shipshape.sources as sources

    streams: dict[str, Stream] = {}
    for module in sorted(pkgutil.iter_modules(sources.__path__), key=lambda m: m.name):
        if not module.ispkg:
            continue
        package = importlib.import_module(f"shipshape.sources.{module.name}")
        for stream in getattr(package, "STREAMS", ()):
            streams[stream.key] = stream
    return streams


def raw_asset_uri(stream_key: str) -> str:
    source, stream = stream_key.split(".", 1)
    return f"shipshape://warehouse/raw/{source}__{stream}"


def raw_asset(stream_key: str):
    """The Airflow Asset of a stream's raw table: what its ingest task updates and reconcile is scheduled on."""
    from airflow.sdk import Asset

    source, stream = stream_key.split(".", 1)
    return Asset(name=f"raw.{source}__{stream}", uri=raw_asset_uri(stream_key))
