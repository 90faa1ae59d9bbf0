"""REST API infrastructure shared by every app: RFC 9457 problem details, cursor pagination,
the OpenAPI schema's extensions. No domain logic."""
