from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProceduresConfig(AppConfig):
    default = True
    name = "machi.procedures"
    label = "procedures"
    verbose_name = _("Online procedures (窓口・電子申請)")

    def ready(self) -> None:
        from machi.core import nav
        from machi.procedures import policies, tasks  # noqa: F401 - tasks: the nightly retention

        policies.register()
        from django.db.models.signals import post_delete, post_save

        from machi.procedures import services
        from machi.procedures.models import Procedure

        # A procedure changed here is seen at once here (other processes: within 10 s).
        post_save.connect(services.offered_forget, sender=Procedure, weak=False)
        post_delete.connect(services.offered_forget, sender=Procedure, weak=False)
        nav.register(
            "procedures:queue", _("Applications"), resource="procedures.application", order=45
        )
