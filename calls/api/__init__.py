"""REST API for calls: list/filter, details, transcript, events, summary, recording metadata,
outbound calls (with Idempotency-Key) and monthly usage."""
