"""How the Lambda handlers and the executions run in this process: the function registry, the
admission queue, provisioning, the activity log.
"""
