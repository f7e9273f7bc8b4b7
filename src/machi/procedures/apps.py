from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProceduresConfig(AppConfig):
    default = True
    name = "machi.procedures"
    label = "procedures"
    verbose_name = _("Online procedures (窓口・電子申請)")

    def ready(self) -> None:
        from machi.procedures import policies, tasks  # noqa: F401 - tasks: the nightly retention

        policies.register()
