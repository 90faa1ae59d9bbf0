"""Twilio: webhook signatures, the call token, TwiML, and the async REST client."""
