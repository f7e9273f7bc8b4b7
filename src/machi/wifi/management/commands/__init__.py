"""``machi wifi``: see wifi.py."""
