from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The captive portal of the free Wi-Fi and the RADIUS endpoints (its own models)."""

    default = True
    name = "machi.wifi.portal"
    label = "wifi_portal"
    verbose_name = _("Free Wi-Fi login (captive portal)")
