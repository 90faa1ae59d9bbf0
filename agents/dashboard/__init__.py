"""Dashboard pages of the agents app: agents (editor, tools per stage, publish, revisions and
diffs) and the tenant's webhook tools (editor and "test this tool")."""
