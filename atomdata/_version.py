"""The version of the atomdata package (imports nothing)."""

__version__ = "0.1.0"
