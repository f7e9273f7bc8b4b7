"""The guide room's knowledge base: FAQ entries staff keep, each change kept as a revision."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Mode(models.TextChoices):
    NORMAL = "normal", pgettext_lazy("faq mode", "Normal times")
    DISASTER = "disaster", pgettext_lazy("faq mode", "In a disaster")


class Language(models.TextChoices):
    JA = "ja", _("Japanese")
    EN = "en", _("English")


class Entry(models.Model):
    """One question and its answer. ``key`` is the ID of the city's FAQ (CSV column ID)."""

    key = models.CharField(_("ID"), max_length=64, unique=True)
    question = models.TextField(_("question"))
    answer = models.TextField(_("answer"))
    category = models.CharField(_("category"), max_length=64, blank=True, db_index=True)
    department = models.CharField(_("department"), max_length=64, blank=True)
    url = models.URLField(_("related URL"), max_length=500, blank=True)
    updated_on = models.DateField(_("updated"), null=True, blank=True)
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.JA
    )
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.NORMAL)
    published = models.BooleanField(_("published"), default=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        verbose_name = _("FAQ entry")
        verbose_name_plural = _("FAQ entries")

    def __str__(self) -> str:
        return f"{self.key} {self.question[:40]}"


class Revision(models.Model):
    """An entry as it was saved: who changed it, when, from where (console, import)."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="revisions")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=16)  # "console", "import", "api"
    question = models.TextField()
    answer = models.TextField()
    data = models.JSONField(default=dict)  # the other fields as saved

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.entry_id} {self.at:%Y-%m-%d %H:%M}"


class Feedback(models.TextChoices):
    NONE = "", _("No answer yet")
    RESOLVED = "resolved", _("Solved")
    UNRESOLVED = "unresolved", _("Not solved")


class Question(models.Model):
    """A question residents asked the chat: what they asked, what it answered, how sure it was,
    and whether it helped. Low confidence or 「解決しなかった」 puts it in the staff queue.
    Nothing links it to a person (no session, no address)."""

    text = models.CharField(_("question"), max_length=500)
    language = models.CharField(max_length=2, default="ja")
    asked_at = models.DateTimeField(default=timezone.now, db_index=True)
    top = models.ForeignKey(
        Entry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    confidence = models.FloatField(default=0.0)
    low_confidence = models.BooleanField(default=False, db_index=True)
    disaster = models.BooleanField(default=False)
    feedback = models.CharField(max_length=10, choices=Feedback.choices, blank=True, default="")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A secret the asking browser holds, so only it can give feedback on its question.
    token = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-asked_at"]
        verbose_name = _("question asked")
        verbose_name_plural = _("questions asked")

    def __str__(self) -> str:
        return self.text[:40]
