"""ASGI entry point: HTTP goes to Django, WebSockets to the Channels routes of each app.

The probe paths (/healthz, /readyz, /metrics) are answered in front of Django (``voxsaas.probes``):
load balancers and Prometheus call each worker by its own address. Serve it with
``python -m voxsaas.serve`` (daphne with a graceful drain on SIGTERM).
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voxsaas.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

from voxsaas import daphne_compat  # noqa: E402

daphne_compat.install()
django_asgi_app = get_asgi_application()

from voxsaas.probes import ProbeApp  # noqa: E402 - needs the app registry loaded
from voxsaas.routing import websocket_urlpatterns  # noqa: E402 - needs the app registry loaded

application = ProtocolTypeRouter(
    {
        "http": ProbeApp(django_asgi_app),
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# Everything loaded so far (Django, the apps, their modules: ~170k objects) lives as long as the
# process. Moving it out of the collector's generations keeps full collections short: measured
# under call load, one full collection otherwise paused the event loop for ~130 ms (bench/README).
gc.freeze()
