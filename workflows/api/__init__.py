"""The HTTP API behind API Gateway (routes, problem responses, OpenAPI)."""
