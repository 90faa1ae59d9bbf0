"""Outbound webhooks: per-tenant endpoints, signed (Standard Webhooks) deliveries with retries.

Lives inside ``calls`` because every event it carries is about a call (started, ended,
summarized, a tool it invoked, a booking or transfer made during it) and post-call processing is
its main producer. It is its own Django app (label ``webhooks``) so its migrations are
independent of the call path's.
"""
