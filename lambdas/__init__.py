"""Lambda entry points: parse the input, call one use case in `workflows`, return its result."""
