"""Celery application. Configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voxsaas.settings")

app = Celery("voxsaas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _serve_worker_metrics(**_: Any) -> None:
    """Expose this worker's Prometheus metrics when WORKER_METRICS_ADDRESS is set."""
    from django.conf import settings

    if settings.WORKER_METRICS_ADDRESS:
        from voxsaas.metrics import start_worker_exporter

        start_worker_exporter(
            settings.WORKER_METRICS_ADDRESS, multiprocess_dir=settings.PROMETHEUS_MULTIPROC_DIR
        )
