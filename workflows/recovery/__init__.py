"""Recovery: an open endpoint probed, its parked notifications released, and the recovery execution
handed over.
"""
