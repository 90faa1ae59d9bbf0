"""Background work of the agents app."""

from __future__ import annotations

from celery import shared_task

from agents.contacts_import_jobs import contact_import_run


# Not acks_late (the project default): a worker lost mid-file must not start the same rows again
# (a redelivered job would find itself already running and stop, but only after a redelivery).
@shared_task(name="contacts.import_csv", acks_late=False, ignore_result=True)
def contacts_import_run(tenant_id: int, token: str) -> None:
    contact_import_run(tenant_id=tenant_id, token=token)
