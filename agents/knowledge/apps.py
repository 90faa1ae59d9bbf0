from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "agents.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge bases"
