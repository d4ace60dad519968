"""Prometheus metrics of a cloud process, served on their own listen address.

Layer: observability, imported by the ingest pipeline and worker; no SQL, no
HTTP API. The registry is this module's own (not prometheus_client's global
one), served by :func:`serve_metrics` at ``http://HOST:PORT/metrics`` when
``SHANSHUI_METRICS_PORT`` is set.

Why a separate listen address and no API key: a scraper needs no access to
readings, and an API key that may read ``/metrics`` would have to be an admin
key (the counters are platform-wide), more power than a scraper should hold.
The metrics carry no gateway ids, tenants or secrets (only dead-letter reasons),
and the address defaults to loopback: expose it to the Prometheus network only,
as any exporter port. It also lets ``shanshui cloud ingest`` workers, which
serve no HTTP API, be scraped: one port per process.
"""

from __future__ import annotations

import logging
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

BATCHES_STORED = Counter(
    "shanshui_batches_stored", "Batches committed (replays not counted).", registry=REGISTRY
)
READINGS_STORED = Counter(
    "shanshui_readings_stored", "Readings committed by stored batches.", registry=REGISTRY
)
DUPLICATES = Counter(
    "shanshui_batches_duplicate", "Batches recognised as already stored.", registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "shanshui_dead_letters", "Messages kept as dead letters, by reason.", ["reason"],
    registry=REGISTRY,
)  # fmt: skip
WRITE_SECONDS = Histogram(
    "shanshui_batch_write_seconds",
    "Time to store one group of batches (dedupe and write, one transaction).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "shanshui_ingest_queue_depth",
    "Messages received from the broker and not yet settled.",
    registry=REGISTRY,
)
BROKER_CONNECTED = Gauge(
    "shanshui_broker_connected", "1 while the ingest worker is connected to the broker.",
    registry=REGISTRY,
)  # fmt: skip


def serve_metrics(host: str, port: int) -> tuple[WSGIServer, Thread]:
    """Serve the registry at ``http://host:port/metrics`` in a daemon thread.

    Raises:
        OSError: the address cannot be bound.
    """
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server, thread
