"""Forms of the notify pages. They parse what was typed; the rules are the services' (whose
``NotifyError.field`` the views put back on the field it names)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import Model
from django.urls import reverse_lazy
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from machi.core.forms import form_error_summary
from machi.core.models import Area
from machi.notify import selectors, services
from machi.notify.models import ApiKeyKind, AreaGroup, Channel, Template, Topic
from machi.notify.responders import EVENTS

# Each language named in itself: a resident finds their own whatever the page's language.
LANGUAGE_CHOICES = [("ja", "日本語"), ("en", "English")]
VALUE_PREFIX = "values."  # placeholder inputs: "values.<name>", as NotifyError names them
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class TopicChoiceField(forms.ModelMultipleChoiceField):
    """Topics labelled in the page's language."""

    def label_from_instance(self, obj: Model) -> str:
        return cast(Topic, obj).label(get_language() or "ja")


error_summary = form_error_summary  # the errors of a form for the summary at the top


# --- Residents ----------------------------------------------------------------------------------


class GroupChoiceField(forms.ModelMultipleChoiceField):
    """学区 and 地区 labelled in the page's language."""

    def label_from_instance(self, obj: Model) -> str:
        return cast(AreaGroup, obj).label(get_language() or "ja")


class ChoicesForm(forms.Form):
    """What a resident receives: topics, areas, language, emergency only."""

    topics = TopicChoiceField(
        label=_("Topics"),
        queryset=Topic.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Choose what you want to hear about."),
    )
    areas = forms.ModelMultipleChoiceField(
        label=_("Areas"),
        queryset=Area.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_(
            "If you choose none, you receive messages for the whole city. "
            "To choose several, hold Ctrl (⌘ on a Mac) or tap each one on a phone."
        ),
    )
    groups = GroupChoiceField(
        label=_("School districts and districts"),
        queryset=AreaGroup.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("A school district means all its areas."),
    )
    language = forms.ChoiceField(
        label=_("Language of the messages"),
        choices=LANGUAGE_CHOICES,
        initial="ja",
        widget=forms.RadioSelect,
    )
    emergency_only = forms.BooleanField(
        label=_("Emergency information only"),
        required=False,
        help_text=_(
            "Only evacuation information, shelter openings and other emergencies, "
            "whatever topics you chose."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(
            forms.ModelMultipleChoiceField, self.fields["topics"]
        ).queryset = selectors.topics_offered()
        cast(
            forms.ModelMultipleChoiceField, self.fields["areas"]
        ).queryset = selectors.areas_offered()
        groups = AreaGroup.objects.all()
        if groups.exists():
            cast(forms.ModelMultipleChoiceField, self.fields["groups"]).queryset = groups
        else:
            del self.fields["groups"]  # the city has not imported any

    def clean(self) -> dict[str, Any]:
        """The choices' own rules (services.Choices.checked), so that every mistake of the
        form shows at once, beside its field, not one after the other."""
        data = super().clean() or {}
        if "topics" in data and "language" in data:
            try:
                services.Choices(
                    topics=list(data["topics"]),
                    language=data["language"],
                    emergency_only=data.get("emergency_only", False),
                ).checked()
            except services.NotifyError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        return data

    def choices(self) -> services.Choices:
        data = self.cleaned_data
        return services.Choices(
            topics=list(data["topics"]),
            areas=list(data["areas"]),
            groups=list(data.get("groups", [])),
            language=data["language"],
            emergency_only=data["emergency_only"],
        )


class SubscribeForm(ChoicesForm):
    address = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        error_messages={"required": _("Enter your e-mail address.")},
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}
        ),
        help_text=_("We send a confirmation mail first: nothing else is sent until you open it."),
    )


# --- Staff: broadcasts --------------------------------------------------------------------------


class BroadcastForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=Template.objects.all(), required=False, widget=forms.HiddenInput
    )
    subject = forms.CharField(
        label=_("Subject"),
        max_length=200,
        error_messages={"required": _("Write a subject.")},
        help_text=_("The e-mail subject and the title of the notification."),
    )
    body = forms.CharField(
        label=pgettext_lazy("text of a notification", "Message"),
        error_messages={"required": _("Write the message.")},
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Push notifications and LINE show the first 500 characters and a link."),
    )
    subject_en = forms.CharField(label=_("Subject (English)"), max_length=200, required=False)
    body_en = forms.CharField(
        label=_("Message (English)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Subscribers who chose English get this; without it, the Japanese text."),
    )
    topics = forms.ModelMultipleChoiceField(
        label=_("Topics"),
        queryset=Topic.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Subscribers who chose one of these topics receive the message."),
    )
    areas = forms.ModelMultipleChoiceField(
        label=_("Areas"),
        queryset=Area.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("None chosen: the whole city."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        choices=Channel.choices,
        initial=services.channels_available,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one channel.")},
    )
    emergency = forms.BooleanField(
        label=_("Emergency"),
        required=False,
        help_text=_(
            "Also reaches subscribers of emergency information only, and is sent without "
            "waiting for approval."
        ),
    )
    everyone = forms.BooleanField(
        label=_("Every subscriber, whatever their topics"),
        required=False,
        help_text=_("Only for an emergency, such as an evacuation order (避難指示)."),
    )
    scheduled_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        help_text=_("Japan time. Empty: now."),
    )
    test = forms.BooleanField(
        label=_("Test: send nothing"),
        required=False,
        help_text=_(
            "Goes through every step, but no resident receives anything; "
            "not shown in the public archive."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(
            forms.ModelMultipleChoiceField, self.fields["areas"]
        ).queryset = selectors.areas_offered()
        self.placeholder_names = services.placeholders(*self._texts())
        for name in self.placeholder_names:
            self.fields[VALUE_PREFIX + name] = forms.CharField(
                label=name, max_length=500, required=False
            )

    def _texts(self) -> list[str]:
        names = ("subject", "body", "subject_en", "body_en")
        if self.is_bound:
            return [str(self.data.get(self.add_prefix(n), "")) for n in names]
        return [str(self.initial.get(n, "")) for n in names]

    def placeholder_fields(self) -> list[forms.BoundField]:
        return [self[VALUE_PREFIX + name] for name in self.placeholder_names]

    def values(self) -> dict[str, str]:
        """The placeholder values typed so far (valid form or not, for a preview)."""
        found = {}
        for name in self.placeholder_names:
            key = self.add_prefix(VALUE_PREFIX + name)
            found[name] = str(self.data.get(key, "")).strip()
        return found

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("everyone") and not data.get("emergency"):
            self.add_error("everyone", _("Only an emergency broadcast may go to every subscriber."))
        if bool(data.get("subject_en", "").strip()) != bool(data.get("body_en", "").strip()):
            missing = "body_en" if data.get("subject_en", "").strip() else "subject_en"
            self.add_error(missing, _("Write both the English subject and message, or neither."))
        return data

    def text(self) -> services.Text:
        """The four texts with their placeholders filled; NotifyError names an empty one."""
        values = self.values()
        data = self.cleaned_data

        def fill(name: str) -> str:
            text = data.get(name) or ""
            return services.render(text, values) if text else ""

        return services.Text(
            subject=fill("subject"),
            body=fill("body"),
            subject_en=fill("subject_en"),
            body_en=fill("body_en"),
        )


class TemplateChoiceForm(forms.Form):
    """The compose page's "start from a template" picker (GET)."""

    template = forms.ModelChoiceField(
        label=_("Start from a template"),
        queryset=Template.objects.all(),
        required=False,
        empty_label=_("No template"),
        # With JavaScript the compose form is replaced as soon as a template is chosen.
        widget=forms.Select(
            attrs={
                "hx-get": reverse_lazy("notify_console:new"),
                "hx-trigger": "change",
                "hx-target": "#compose",
                "hx-swap": "outerHTML",
                "hx-push-url": "true",
            }
        ),
    )


def broadcast_initial(template: Template | None) -> dict[str, Any]:
    initial: dict[str, Any] = {"channels": services.channels_available()}
    if template is not None:
        initial.update(
            template=template.pk,
            subject=template.subject,
            body=template.body,
            subject_en=template.subject_en,
            body_en=template.body_en,
            topics=list(template.topics.all()),
            emergency=template.kind == "emergency",
        )
    return initial


# --- Staff: templates, topics, subscribers, keys ------------------------------------------------


class TemplateForm(forms.ModelForm):
    event = forms.ChoiceField(
        label=_("Sent automatically for"),
        required=False,
        help_text=_("The event for which this template is sent without anyone writing."),
    )

    class Meta:
        model = Template
        fields = [
            "name",
            "slug",
            "kind",
            "event",
            "subject",
            "body",
            "subject_en",
            "body_en",
            "topics",
        ]
        widgets = {
            "body": forms.Textarea(attrs={"rows": 8}),
            "body_en": forms.Textarea(attrs={"rows": 6}),
            "topics": forms.CheckboxSelectMultiple,
        }
        help_texts = {
            "body": _("Write ((name)) where a value is filled in when sending."),
            "slug": _("Letters, digits, hyphens: how other systems name this template."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["event"]).choices = [
            ("", _("Not automatic")),
            *EVENTS.items(),
        ]


class TopicForm(forms.ModelForm):
    class Meta:
        model = Topic
        fields = ["name", "name_en", "slug", "description", "emergency", "position", "active"]


class SubscriberSearchForm(forms.Form):
    address = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("The whole address, exactly: there is no partial search."),
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=64,
        help_text=_("Which system uses it, for example: 防災行政無線連携."),
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=ApiKeyKind.choices,
        initial=ApiKeyKind.TEST,
        widget=forms.RadioSelect,
    )
