"""Agent and tool pages, included under ``/t/<slug>/`` in the ``dashboard`` namespace."""

from __future__ import annotations

from django.urls import path

from agents.dashboard import agents, revisions, tools

urlpatterns = [
    path("agents/", agents.agent_list, name="agents"),
    path("agents/new/", agents.agent_new, name="agent-new"),
    path("agents/<str:public_id>/", agents.agent_edit, name="agent"),
    path("agents/<str:public_id>/tools/", agents.agent_tools, name="agent-tools"),
    path("agents/<str:public_id>/corpora/", agents.agent_corpora, name="agent-corpora"),
    path("agents/<str:public_id>/publish/", agents.agent_publish_view, name="agent-publish"),
    path("agents/<str:public_id>/revisions/", revisions.revision_list, name="agent-revisions"),
    path("agents/<str:public_id>/revisions/<int:number>/", revisions.revision_detail, name="agent-revision"),
    path("agents/<str:public_id>/diff/", revisions.revision_diff, name="agent-diff"),
    path("tools/", tools.tool_list, name="tools"),
    path("tools/new/", tools.tool_new, name="tool-new"),
    path("tools/<str:public_id>/", tools.tool_edit, name="tool"),
    path("tools/<str:public_id>/test/", tools.tool_test, name="tool-test"),
    path("tools/<str:public_id>/delete/", tools.tool_delete_view, name="tool-delete"),
]
