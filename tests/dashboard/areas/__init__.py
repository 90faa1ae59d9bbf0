"""The dashboard's areas beyond the core pages: each module lists its pages and actions for the
catalogue (every page x role, forged cross-tenant ids, forged viewer posts), adds its rows to
both tenants' ``Side.extra`` (``populate``), and says what a refused write must leave unchanged
(``snapshot``)."""

from __future__ import annotations

from tests.dashboard.areas import calendar, contacts, knowledge, webhooks

AREAS = [knowledge, contacts, calendar, webhooks]
