"""Agent models, split by concern and re-exported here for Django and for importers."""

from agents.models.agent import Agent, AgentCorpus, AgentRevision, Engine
from agents.models.contacts import Contact, ContactPhone
from agents.models.tools import AgentTool, BuiltinTool, Tool

__all__ = [
    "Agent",
    "AgentCorpus",
    "AgentRevision",
    "AgentTool",
    "BuiltinTool",
    "Contact",
    "ContactPhone",
    "Engine",
    "Tool",
]
