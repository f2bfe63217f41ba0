"""moto's AWS, one module or package per service, adjusted to answer as AWS does for a long-running
host.
"""
