"""Widgets: each renders one thing from data it is given; none talks to a target."""
