from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmergencyConfig(AppConfig):
    default = True
    name = "machi.emergency"
    label = "emergency"
    verbose_name = _("Disaster headquarters (災害対策本部)")

    def ready(self) -> None:
        from machi.emergency import policies

        policies.register()
