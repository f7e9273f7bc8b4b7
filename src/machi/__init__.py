"""Machi (まち): a digital city hall that keeps working in a disaster."""

__version__ = "0.1.0"
