from django.apps import AppConfig


class PostcallConfig(AppConfig):
    name = "calls.postcall"
    label = "postcall"
    verbose_name = "Post-call processing"
    default_auto_field = "django.db.models.BigAutoField"
