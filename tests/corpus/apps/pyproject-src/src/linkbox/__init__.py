"""linkbox: a tiny bookmark board."""

__version__ = "0.3.0"
