"""The HTTP API: FastAPI app factory, dependencies and thin routers.

Layer: HTTP. Routes validate input (``cloud.schemas``), call one storage method
and map domain errors to status codes; no SQL and no MQTT here.
"""

from cloud.api.app import create_app

__all__ = ["create_app"]
