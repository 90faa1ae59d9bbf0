"""Dashboard pages of the calls app (views, list selectors, timeline, overview statistics)."""
