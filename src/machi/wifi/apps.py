from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WifiConfig(AppConfig):
    default = True
    name = "machi.wifi"
    label = "wifi"
    verbose_name = _("Public Wi-Fi (公衆無線LAN)")

    def ready(self) -> None:
        from machi.wifi import policies

        policies.register()
