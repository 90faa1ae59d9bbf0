"""Re-encrypt every encrypted value under the newest key in FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.crypto import encrypted_fields


class Command(BaseCommand):
    help = "Re-encrypt all encrypted fields with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model, names in encrypted_fields():
            with transaction.atomic():
                # Reading decrypts with any configured key; writing back encrypts with the first.
                rows = model._default_manager.select_for_update().values_list("pk", *names)
                for pk, *plain in rows.iterator(chunk_size=500):
                    updates = {name: value for name, value in zip(names, plain, strict=True) if value}
                    if updates:
                        model._default_manager.filter(pk=pk).update(**updates)
                        total += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} row(s) under the newest key."))
