"""Drivers: how Machi talks to access points (see base.py for the one interface)."""
