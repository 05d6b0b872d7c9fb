"""Routes on Faust's own web server: ``/metrics``, ``/health``, ``/ready``, ``/unsubscribe``,
and ``/overview`` (``/`` redirects there)."""

from streams.web.routes import register as register_routes

__all__ = ["register_routes"]
