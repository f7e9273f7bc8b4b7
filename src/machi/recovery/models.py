"""The recovery room (被災者支援): rule tables loaded by the city. More comes with the ledger."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RuleSet(models.Model):
    """A rule table a city loaded, with its source (the shipped ones live in the package)."""

    kind = models.CharField(_("kind"), max_length=8)  # damage, grant
    name = models.CharField(_("revision"), max_length=32)
    title = models.CharField(_("title"), max_length=200)
    source = models.TextField(_("source"))
    data = models.JSONField()
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="ruleset_once")]
        verbose_name = _("rule table")
        verbose_name_plural = _("rule tables")

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"
