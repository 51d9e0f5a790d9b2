"""The package version, in one place (read by the package face and by result metadata)."""

__version__ = "0.1.0"
