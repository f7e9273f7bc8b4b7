from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WifiConfig(AppConfig):
    default = True
    name = "machi.wifi"
    label = "wifi"
    verbose_name = _("Public Wi-Fi (公衆無線LAN)")

    def ready(self) -> None:
        from machi.core import nav
        from machi.wifi import jobs, policies  # noqa: F401 - jobs registers the switch's kind

        policies.register()
        nav.register("wifi:index", _("Public Wi-Fi"), resource="wifi.site", order=30)
        nav.register("wifi:disaster", _("00000JAPAN"), resource="wifi.disaster_mode", order=31)
        nav.register(
            "wifi_monitor:board", _("Wi-Fi monitoring"), resource="wifi.accesspoint", order=32
        )
        nav.register("wifi:usage", _("Wi-Fi use at the shelters"), resource="wifi.usage", order=33)
