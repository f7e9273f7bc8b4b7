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
        nav.register_portal(
            "shelters_public:status",
            _("Open shelters now"),
            _("Which shelters are open in a disaster, and how crowded they are."),
            order=10,
        )
        nav.register_portal(
            "shelters_public:register",
            _("Register as an evacuee"),
            _("Register your household on your phone and check in at the shelter with a QR code."),
            order=20,
        )
