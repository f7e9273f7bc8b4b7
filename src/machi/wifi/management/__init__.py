"""Management commands of the Wi-Fi room (``machi wifi …``)."""
