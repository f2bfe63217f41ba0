"""The one-machine runtime (`stepwire local`, never shipped to Lambda): the same state machines and
handlers on moto's emulated AWS, with its CLI, host, gateway, state directory and console.
"""
