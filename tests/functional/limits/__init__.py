"""AWS's documented limits, as the local engine enforces them."""
