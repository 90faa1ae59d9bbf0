"""The call bridge: pure asyncio, no Django.

Everything that touches live call audio lives here: frames, codecs, telephony serializers,
engines and the ``CallSession`` that ties them together. The Django side (consumers, services)
feeds it an immutable config snapshot and receives transcripts/events through small ports
(see ``ports.py``). An import-linter contract forbids Django and app imports in this package.
"""
