"""The package version, in a module of its own so the estimators can record it when pickled."""

__version__ = "0.5.0"
