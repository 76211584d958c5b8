"""Shopify Bulk Operations: export a whole window at once (first loads, long backfills), then stream it.

1. `bulkOperationRunQuery` with the stream's selection (`queries.Root.bulk_query`). Before 2026-01 an app
   runs one bulk query per shop at a time: a running one of ours with the same query is adopted (a retried
   task whose previous attempt started it), any other is waited out, then ours starts.
   `groupObjects: true` is asked for (from 2025-07, where the argument exists; 2026-01 flipped its default
   to false): it keeps each child line directly under its parent, which is what lets the file be read
   in one pass with one record in memory.
2. Poll the operation by id (`node(id:)`, which every version serves) with a growing interval until it is
   COMPLETED; FAILED, CANCELED and EXPIRED raise `BulkOperationFailed` with Shopify's error code.
3. Download the JSONL (an absolute URL) line by line. Each nested connection's nodes come as their own
   lines with `__parentId`; `Reassembler` puts them back as `{"nodes": [...]}` under their parent, the
   same shape the paged path produces, and yields whole records in pages.
4. The number of records read must equal the operation's `rootObjectCount`, which is also reported to
   the runner as the API's own count.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shipshape.ingest.http import ApiError
from shipshape.sources.shopify.client import ShopifyClient
from shipshape.sources.shopify.queries import Node, Root, gid_type

log = logging.getLogger(__name__)

ACTIVE = frozenset({"CREATED", "RUNNING", "CANCELING"})
FAILED = frozenset({"FAILED", "CANCELED", "EXPIRED"})
OPERATION = "id status errorCode objectCount rootObjectCount fileSize url query"
CURRENT = f"query ShipshapeCurrentBulk {{ currentBulkOperation {{ {OPERATION} }} }}"
POLL = f"query ShipshapeBulk($id: ID!) {{ node(id: $id) {{ ... on BulkOperation {{ {OPERATION} }} }} }}"
RUN = ("mutation ShipshapeRunBulk($query: String!) {{ bulkOperationRunQuery(query: $query{group}) {{ "
       "bulkOperation {{ id status }} userErrors {{ field message code }} }} }}")
GROUP_OBJECTS_SINCE = "2025-07"


class BulkOperationFailed(ApiError):
    """The bulk operation ended without a complete result (FAILED, CANCELED, EXPIRED, or rejected)."""


class BulkFormatError(ApiError):
    """The JSONL can't be reassembled as read: a child line whose parent is not the record being read."""


@dataclass
class BulkOptions:
    page_size: int = 250  # records per page handed to the loader
    poll_first: float = 0.1  # seconds before the first status check; then x1.5 each time …
    poll_max: float = 10.0  # … up to this
    timeout: float = 4 * 3600.0  # give up waiting for an operation after this many seconds


class BulkExport:
    """One bulk query, run to completion and read back as pages of reassembled records."""

    def __init__(self, client: ShopifyClient, root: Root, options: BulkOptions | None = None) -> None:
        self.client = client
        self.root = root
        self.options = options or BulkOptions()
        self.operation: dict[str, Any] | None = None  # the completed operation
        self.root_object_count: int | None = None

    def pages(self, search: str) -> Iterator[list[dict[str, Any]]]:
        query = self.root.bulk_query(search)
        op = self._wait(self._start(query))
        self.operation = op
        self.root_object_count = int(op.get("rootObjectCount") or 0)
        log.info("shopify: bulk operation %s completed: %s %s (%s lines, %s bytes)", op["id"],
                 self.root_object_count, self.root.field, op.get("objectCount"), op.get("fileSize"))
        if not op.get("url"):  # Shopify gives no file for an empty result
            if self.root_object_count:
                raise BulkOperationFailed(f"shopify: bulk operation {op['id']} reports {self.root_object_count} "
                                          "records but no result file")
            return
        reassembler = Reassembler(self.root.node)
        page: list[dict[str, Any]] = []
        read = 0
        for line in self.client.download_lines(op["url"]):
            if not line.strip():
                continue
            done = reassembler.feed(json.loads(line))
            if done is not None:
                page.append(done)
                if len(page) >= self.options.page_size:
                    read += len(page)
                    yield page
                    page = []
        last = reassembler.finish()
        if last is not None:
            page.append(last)
        read += len(page)
        if page:
            yield page
        if read != self.root_object_count:
            raise BulkOperationFailed(f"shopify: bulk operation {op['id']} reported {self.root_object_count} "
                                      f"{self.root.field} but its file held {read}")

    # ---------------------------------------------------------------------------------------- running
    def _start(self, query: str) -> str:
        """Start the bulk query (or adopt ours already running); returns the operation id."""
        group = ", groupObjects: true" if self.client.api_version >= GROUP_OBJECTS_SINCE else ""
        mutation = RUN.format(group=group)
        deadline = time.monotonic() + self.options.timeout
        while True:
            current = self.client.graphql(CURRENT).get("currentBulkOperation")
            if current and current.get("status") in ACTIVE:
                if current.get("query") == query:
                    log.info("shopify: adopting bulk operation %s, already running this query", current["id"])
                    return current["id"]
                log.info("shopify: bulk operation %s (another query) is %s; one runs at a time: waiting for it",
                         current["id"], current["status"])
                self._wait(current["id"], expect_ours=False)
                continue
            result = self.client.graphql(mutation, {"query": query})["bulkOperationRunQuery"] or {}
            errors = result.get("userErrors") or []
            if not errors and result.get("bulkOperation"):
                log.info("shopify: started bulk operation %s", result["bulkOperation"]["id"])
                return result["bulkOperation"]["id"]
            if any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors) and time.monotonic() < deadline:
                # Started elsewhere between our check and our mutation: look again shortly.
                self.client.pause(self.options.poll_first, "another bulk operation is starting")
                continue
            raise BulkOperationFailed("shopify: bulkOperationRunQuery refused: "
                                      + "; ".join(str(e.get("message")) for e in errors))

    def _wait(self, op_id: str, *, expect_ours: bool = True) -> dict[str, Any]:
        """Poll until the operation ends; returns it when COMPLETED (or any end, for another's)."""
        delay = self.options.poll_first
        started = time.monotonic()
        waited = 0.0
        while True:
            op = self.client.graphql(POLL, {"id": op_id}).get("node")
            if not op:
                raise BulkOperationFailed(f"shopify: bulk operation {op_id} not found")
            status = op.get("status")
            if status not in ACTIVE:
                if expect_ours and status in FAILED:
                    raise BulkOperationFailed(f"shopify: bulk operation {op_id} ended {status} "
                                              f"(errorCode {op.get('errorCode')}); nothing was loaded, "
                                              "the next run starts it again")
                if expect_ours and status != "COMPLETED":
                    raise BulkOperationFailed(f"shopify: bulk operation {op_id} ended with status {status}")
                return op
            # Both clocks: wall time for real waits, summed pauses for an injected (test) sleep.
            if max(time.monotonic() - started, waited) > self.options.timeout:
                raise BulkOperationFailed(f"shopify: bulk operation {op_id} still {status} after "
                                          f"{self.options.timeout:.0f} s")
            self.client.pause(delay, f"bulk operation {op_id} {status}")
            waited += delay
            delay = min(self.options.poll_max, delay * 1.5)


class Reassembler:
    """Turns grouped bulk JSONL lines back into whole records, one record in memory at a time.

    A line without `__parentId` starts a new record (and completes the one before). A line with one is a
    node of a connection of an object in the current record: the record itself, or an object in one of
    its list fields (a fulfillment). Which connection it belongs to is told by the type in its id.
    Connections that came inline (a connection inside a list field may) are reduced to `{"nodes": [...]}`
    too, and an object with no lines for a connection gets `{"nodes": []}`, as the paged path gives.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self.current: dict[str, Any] | None = None
        self.parents: dict[str, tuple[dict[str, Any], Node]] = {}

    def feed(self, line: dict[str, Any]) -> dict[str, Any] | None:
        """Take one line; returns the previous record when this line starts a new one."""
        parent_id = line.pop("__parentId", None)
        if parent_id is None:
            done = self.current
            self.current = line
            self.parents = {}
            self._shape(line, self.node)
            return done
        if self.current is None:
            raise BulkFormatError(f"shopify: bulk line {line.get('id')!r} names parent {parent_id!r} "
                                  "before any record")
        entry = self.parents.get(parent_id)
        if entry is None:
            if isinstance(self.current.get("id"), str):
                raise BulkFormatError(
                    f"shopify: bulk line {line.get('id')!r} belongs to {parent_id!r}, which is not the record "
                    f"being read ({self.current['id']}): the file is not grouped by parent")
            # The record's own id is unusable (it will be quarantined for that): its children follow it.
            entry = (self.current, self.node)
        parent, node = entry
        conn = self._connection(node, line)
        self._shape(line, conn.node)
        parent[conn.field]["nodes"].append(line)
        return None

    def finish(self) -> dict[str, Any] | None:
        done, self.current, self.parents = self.current, None, {}
        return done

    def _connection(self, node: Node, line: dict[str, Any]):
        kind = gid_type(line.get("id"))
        for conn in node.connections:
            if conn.node.type == kind:
                return conn
        if len(node.connections) == 1:  # a node with a malformed id: there's only one place it can go
            return node.connections[0]
        raise BulkFormatError(f"shopify: bulk line {line.get('id')!r} matches no connection of {node.type}")

    def _shape(self, obj: dict[str, Any], node: Node) -> None:
        if node.connections and isinstance(obj.get("id"), str):
            self.parents[obj["id"]] = (obj, node)
        for name, child in node.lists:
            for item in obj.get(name) or ():
                if isinstance(item, dict):
                    self._shape(item, child)
        for conn in node.connections:
            obj[conn.field] = {"nodes": self._inline(obj.get(conn.field), conn.node)}

    def _inline(self, value: Any, node: Node) -> list[dict[str, Any]]:
        if not isinstance(value, dict):
            return []
        if isinstance(value.get("nodes"), list):
            items = value["nodes"]
        else:
            items = [edge.get("node") for edge in value.get("edges") or () if isinstance(edge, dict)]
        for item in items:
            if isinstance(item, dict):
                self._shape(item, node)
        return items
