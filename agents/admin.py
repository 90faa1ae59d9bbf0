from django.contrib import admin

from agents.models import Agent


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "engine", "created_at")
    list_filter = ("engine",)
    raw_id_fields = ("tenant",)
