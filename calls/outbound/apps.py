from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "calls.outbound"
    label = "outbound"
    verbose_name = "Outbound calls"
    default_auto_field = "django.db.models.BigAutoField"
