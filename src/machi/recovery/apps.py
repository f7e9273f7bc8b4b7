from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecoveryConfig(AppConfig):
    default = True
    name = "machi.recovery"
    label = "recovery"
    verbose_name = _("Victim support (被災者支援)")

    def ready(self) -> None:
        from machi.recovery import certificates, policies  # noqa: F401 - registers its job kind

        policies.register()
        from machi.core import nav

        # The counter reaches the ledger's certificate part; surveyors (often FIELD) the surveys.
        nav.register(
            "recovery:index",
            _("Victim support"),
            resource="recovery.certificateapplication",
            order=25,
        )
        nav.register(
            "recovery:survey_new", _("Damage surveys"), resource="recovery.survey", order=26
        )
