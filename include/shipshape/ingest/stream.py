"""What a source stream is: the contract between a source folder and the ingest runner.

A source folder (`shipshape/sources/<source>/`) defines one `Stream` subclass per stream, listed in its
`STREAMS`. The runner hands a stream an `ExtractContext` (the window, the previous cursor, an open
client) and loads whatever pages `pages()` yields; the stream records its new cursor and, where the
API reports one, the total it expects, on the context.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from shipshape.connections import Connection
from shipshape.ingest.records import RawRecord


@dataclass(frozen=True)
class Window:
    """Extract what changed in [start, end); start None means everything up to end (a first load)."""

    start: datetime | None
    end: datetime

    def __str__(self) -> str:
        start = self.start.isoformat() if self.start else "the beginning"
        return f"[{start}, {self.end.isoformat()})"


@dataclass
class ExtractContext:
    window: Window
    previous_state: dict[str, Any] | None  # the stream's cursor from its last committed run
    run_id: str
    client: Any
    log: logging.Logger
    new_state: dict[str, Any] = field(default_factory=dict)  # the stream sets its next cursor here
    api_reported_count: int | None = None  # a count the API itself reports for the window, if it does
    settings: dict[str, Any] = field(default_factory=dict)  # e.g. {"bulk": True}
    # The warehouse, inside the load's transaction: for streams that must read what is already loaded
    # (PayPal trackers are listed per capture). Read only: the runner owns every write.
    warehouse: Any = None

    @property
    def first_run(self) -> bool:
        return self.previous_state is None


class Stream:
    """One raw table, fed from one API listing. Subclasses set the class attributes and three methods."""

    source: str = ""  # shopify | stripe | paypal | shiphero | tracking
    name: str = ""  # orders, charges, …
    conn_id: str = ""  # the Airflow connection, e.g. "stripe_default"
    # Streams whose committed rows this one reads (PayPal trackers are listed per loaded capture): the DAG
    # runs those first.
    after: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        """The raw table, `raw.<source>__<stream>`."""
        return f"{self.source}__{self.name}"

    @property
    def key(self) -> str:
        return f"{self.source}.{self.name}"

    def open_client(self, conn: Connection, transport: httpx.BaseTransport | None = None):
        """A client for this stream's API (streams of one source usually share the source's client class)."""
        raise NotImplementedError

    def pages(self, ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of API records for `ctx.window`, oldest first where the API allows; set ctx.new_state."""
        raise NotImplementedError

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        """The raw row for one record; raise RecordError(field, reason) for one that can't be loaded."""
        raise NotImplementedError
