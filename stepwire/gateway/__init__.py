"""The local API Gateway (the same proxy events, authorizer and handler as in AWS) and the
console's routes.
"""
