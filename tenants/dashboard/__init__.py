"""The tenant dashboard: the shared page gate (base), and the tenants app's pages (workspace
picker and invitations, overview, phone numbers, team, API keys, usage). Agents, tools and calls
have their pages in ``agents.dashboard`` and ``calls.dashboard``; ``tenants.urls`` mounts them all."""
