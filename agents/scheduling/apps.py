from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "agents.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"
    default_auto_field = "django.db.models.BigAutoField"
