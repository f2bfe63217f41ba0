"""Step Functions: moto's ASL interpreter with scaled time, shared programs, in-thread tasks and
pruned executions.
"""
