"""The HTTP API: the route table, the resolver and one module of routes per resource (entry:
`lambdas/handle_api_request.py`).
"""
