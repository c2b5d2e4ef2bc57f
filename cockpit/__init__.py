"""Cockpit: a keyboard-driven terminal deployment cockpit (core package, no Textual imports)."""

__version__ = "0.1.0"
