"""Stepwire's domain: models, use cases, storage, signing and delivery."""

__version__ = "0.1.0"
