from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SheltersConfig(AppConfig):
    default = True
    name = "machi.shelters"
    label = "shelters"
    verbose_name = _("Shelter operations (避難所運営)")

    def ready(self) -> None:
        from machi.core import nav
        from machi.shelters import policies

        policies.register()
        nav.register("shelters:index", _("Shelters"), resource="shelters.opening", order=20)
