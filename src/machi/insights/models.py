"""The insights room's own records: the assumptions its figures are computed with.

Everything else it shows is read from the other rooms and never written back. The values
below are starting assumptions, not measurements: the city replaces them with its own (the
settings page, for staff who hold the right), and every change is in the audit log.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# 令和7年度地域別最低賃金の全国加重平均額 (厚生労働省, 2025): what an hour of a resident's time is
# worth when nothing better is known. An assumption: a city may prefer its prefecture's minimum
# wage, or an average wage.
VALUE_PER_HOUR_YEN = 1121
# Starting assumptions for a procedure (minutes): a round trip to the city hall, the wait at
# the counter, and the staff time one application takes at the counter and online.
TRAVEL_MINUTES = 30
WAITING_MINUTES = 20
COUNTER_STAFF_MINUTES = 15
ONLINE_STAFF_MINUTES = 5
# How long a question answered on the phone takes a member of staff.
PHONE_ENQUIRY_MINUTES = 5

MINUTES = ("travel_minutes", "waiting_minutes", "counter_staff_minutes", "online_staff_minutes")


class Setting(models.Model):
    """The city's assumptions (one row): the value of an hour, the cost of a trip, and the
    minutes a procedure takes unless it has its own (``ProcedureSetting``)."""

    value_per_hour_yen = models.PositiveIntegerField(
        _("value of an hour of a resident's time (yen)"), default=VALUE_PER_HOUR_YEN
    )
    travel_cost_yen = models.PositiveIntegerField(
        _("travel cost of a visit to the counter (yen, round trip)"), default=0
    )
    phone_enquiry_minutes = models.PositiveSmallIntegerField(
        _("staff minutes for a question answered on the phone"), default=PHONE_ENQUIRY_MINUTES
    )
    travel_minutes = models.PositiveSmallIntegerField(
        _("round trip to the counter (minutes)"), default=TRAVEL_MINUTES
    )
    waiting_minutes = models.PositiveSmallIntegerField(
        _("waiting at the counter (minutes)"), default=WAITING_MINUTES
    )
    counter_staff_minutes = models.PositiveSmallIntegerField(
        _("staff minutes for an application at the counter"), default=COUNTER_STAFF_MINUTES
    )
    online_staff_minutes = models.PositiveSmallIntegerField(
        _("staff minutes for an application made online"), default=ONLINE_STAFF_MINUTES
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("insights assumptions")
        verbose_name_plural = _("insights assumptions")

    def __str__(self) -> str:
        return str(_("Assumptions of the insights"))


class ProcedureSetting(models.Model):
    """The minutes of one procedure, where they differ from the defaults of ``Setting``."""

    procedure = models.OneToOneField(
        "procedures.Procedure", on_delete=models.CASCADE, related_name="+"
    )
    travel_minutes = models.PositiveSmallIntegerField(_("round trip to the counter (minutes)"))
    waiting_minutes = models.PositiveSmallIntegerField(_("waiting at the counter (minutes)"))
    counter_staff_minutes = models.PositiveSmallIntegerField(
        _("staff minutes for an application at the counter")
    )
    online_staff_minutes = models.PositiveSmallIntegerField(
        _("staff minutes for an application made online")
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("assumptions of a procedure")
        verbose_name_plural = _("assumptions of procedures")

    def __str__(self) -> str:
        return str(self.procedure)
