"""Dashboard pages of this app (see urls.py)."""
