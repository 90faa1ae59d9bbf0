"""Faithful fakes of the external services (Twilio, engines), speaking the real wire protocols.

They drive tests, benchmarks and the offline demo, so they are product-quality code: typed,
bounded, owning and cancelling every task they start, and only ever listening on or connecting
to 127.0.0.1.
"""
