"""Outbound calls placed through the API: idempotency records and answering-machine outcomes.

Its own Django app (label ``outbound``) so its migrations are independent of the call path's.
"""
