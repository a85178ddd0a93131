"""dlnotes: the executable companion to the deep-learning lecture notes."""

__version__ = "0.1.0"
