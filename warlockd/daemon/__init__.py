"""warlockd.service, the long-lived process: watching every instance (tracking.py),
sampling (sampling.py), events to the history, webhooks and D-Bus (events.py,
webhooks.py), the Prometheus textfile (prometheus.py) and the D-Bus front door
(dbus_api.py, dbus_server.py, backend.py); loop.py runs them. The CLI never imports
this package; what both use (the store, the cache, metrics) lives beside it."""
