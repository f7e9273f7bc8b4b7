from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    default = True
    name = "machi.core"
    label = "core"
    verbose_name = _("General affairs (core)")

    def ready(self) -> None:
        from machi.core import exports, policies  # noqa: F401 - exports registers its job kinds

        policies.register_core_policies()
