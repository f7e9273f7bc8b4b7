"""Forms of the recovery room's pages. They parse and label; the rules are in the services, and
a ``RecoveryError`` is put back on the field it names (``put_error``), in words staff read
(``explain``: the services speak the API's English)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.db.models import Model
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from machi.core.forms import SummaryError, form_error_summary, summary_anchor
from machi.emergency.models import Disaster
from machi.recovery.models import GrantPart, Sex, Structure, SupportKind, SurveyRound
from machi.recovery.services import RecoveryError

RULE_FILE_MAX_BYTES = 512 * 1024
MEMBER_ROWS = 6

METHOD_CHOICES = [
    ("flood_depth", _("Flood depth (浸水深)")),
    ("loss_ratio", _("Loss ratio (損害割合)")),
    ("floor_area_ratio", _("Damaged floor area (損壊割合)")),
    ("earthquake", _("Earthquake, from outside (外観による判定)")),
]
METHOD_LABELS = dict(METHOD_CHOICES)
# The survey's inputs as they are stored, labelled for the pages.
INPUT_LABELS: dict[str, Promise] = {
    "loss_ratio": _("Loss ratio"),
    "floor_area_ratio": _("Damaged floor area ratio"),
    "depth_above_floor_m": _("Depth above the floor (m)"),
    "external_force": _("Damage from external force"),
    "washed_away": _("Washed away"),
    "collapse": _("Visibly collapsed"),
    "tilt": _("Tilt"),
    "structure": _("Structure"),
    "storeys": _("Storeys"),
}
REBUILD_CHOICES = [
    ("", _("Not applicable (base grant)")),
    ("build", pgettext_lazy("rebuilding", "Build (建設)")),
    ("buy", pgettext_lazy("rebuilding", "Buy (購入)")),
    ("repair", pgettext_lazy("rebuilding", "Repair (補修)")),
    ("rent", pgettext_lazy("rebuilding", "Rent (賃借)")),
    ("none", pgettext_lazy("rebuilding", "None")),
]
REBUILD_LABELS = dict(REBUILD_CHOICES)
YES_NO = [("yes", _("Yes")), ("no", _("No"))]


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _decimal_input() -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 8})


class DisasterField(forms.ModelChoiceField):
    """Disasters by name, newest first, with the day each began."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Disaster"))
        kwargs.setdefault("empty_label", None)
        super().__init__(queryset=Disaster.objects.order_by("-started_at"), **kwargs)

    def label_from_instance(self, obj: Model) -> str:
        obj = cast(Disaster, obj)
        label = f"{obj.name} — {timezone.localdate(obj.started_at).isoformat()}"
        if obj.is_exercise:
            label += " " + str(_("(exercise)"))
        if obj.ended_at is not None:
            label += " " + str(_("(ended)"))
        return label


# --- The service's words, for staff -------------------------------------------------------------

# What a RecoveryError says (the API's English), matched, and what the pages say instead. A
# message not listed is shown as the service wrote it.
_EXPLAINED: list[tuple[re.Pattern[str], Promise]] = [
    (re.compile(p), m)
    for p, m in (
        (r"^the house needs an address$", _("Enter the address of the house.")),
        (r"^structure is one of ", _("Choose the structure of the house.")),
        (r"^a house has at least one storey$", _("A house has at least one storey.")),
        (
            r"^this id belongs to another survey$",
            _("This form was already used for another survey: open a new form."),
        ),
        (r"^round is one of ", _("Choose the round of the survey.")),
        (r"^the survey date is in the future$", _("The survey date is in the future.")),
        (r"^method is one of ", _("Choose how the damage is judged.")),
        (r"^a number is needed$", _("Enter a number.")),
        (r"^not a number: ", _("Enter a number, such as 0.05 or 1/20.")),
        (r"^a ratio is between 0 and 1", _("Enter a percentage from 0 to 100.")),
        (
            r"^the flood-depth table applies to .* houses",
            _(
                "The flood-depth table applies to wooden and prefabricated houses only: judge "
                "this house by the loss ratio."
            ),
        ),
        (
            r"^the flood-depth table applies up to (?P<storeys>\d+) storeys$",
            _(
                "The flood-depth table applies to houses of up to %(storeys)s storeys: judge "
                "this house by the loss ratio."
            ),
        ),
        (
            r"^say whether external force damaged the house$",
            _("Say whether external force (a breached levee, debris…) damaged the house."),
        ),
        (
            r"^no shipped flood-depth table for a house without damage from external force",
            _(
                "No verified flood-depth table covers a house without damage from external "
                "force: judge it by the loss ratio, or load the city's table."
            ),
        ),
        (
            r"^(?P<value>\S+?)(?: m)? is not covered by the shipped rows",
            _(
                "%(value)s is not covered by the verified rows of the table: judge this house "
                "by the loss ratio, or load the city's table."
            ),
        ),
        (
            r"^the earthquake shortcuts decide only 全壊 \(collapse, or a tilt of at least "
            r"(?P<tilt>\S+)\)",
            _(
                "From outside, only 全壊 is decided (a visible collapse, or a tilt of "
                "%(tilt)s or more): judge this house by the loss ratio."
            ),
        ),
        (r"^no \w+ rule table named ", _("There is no rule table of this name.")),
        (
            r"^no resident has this 世帯番号$",
            _("No resident of the register has this household number (世帯番号)."),
        ),
        (
            r"^the head of household needs a name$",
            _("Enter the name of the head of household, or a household number (世帯番号)."),
        ),
        (
            r"^the address or residence \(居所\) is needed$",
            _("Enter the address or residence (住所又は居所)."),
        ),
        (r"^each person needs a name$", _("Enter the person's name.")),
        (r"^sex is male or female$", _("Choose male or female, or leave it empty.")),
        (r"^kind is one of ", _("Choose the kind of support.")),
        (r"^the applicant's name is needed$", _("Enter the applicant's name.")),
        (
            r"^this household has already applied for this disaster",
            _(
                "This household has already applied for this disaster: there is one "
                "certificate per household, and a lost one is re-issued."
            ),
        ),
        (
            r"^the household's house is not registered$",
            _("The household's house is not registered."),
        ),
        (
            r"^the house has not been surveyed for this disaster$",
            _("The house has not been surveyed for this disaster yet."),
        ),
        (
            r"^the application has not been reviewed$",
            _("The application has not been reviewed yet."),
        ),
        (r"^say why it is re-issued$", _("Say why the certificate is re-issued.")),
        (r"^this batch has finished$", _("This batch has finished.")),
        (r"^part is base or addition$", _("Choose the base grant or an additional grant.")),
        (
            r"^rebuild is one of ",
            _("Choose how the household rebuilds (an additional grant needs it)."),
        ),
        (
            r"^the household has no 罹災証明書 for this disaster yet$",
            _("The household has no 罹災証明書 for this disaster yet."),
        ),
        (r"^this part has already been applied for$", _("This part has already been applied for.")),
        (
            r"^(?P<damage>.+) receives no livelihood recovery grant",
            _("A household whose house is %(damage)s receives no livelihood recovery grant."),
        ),
        (r"^a household has at least one person$", _("A household has at least one person.")),
        (
            r"^the deadline for this part was (?P<date>[\d-]+)$",
            _("The deadline for this part was %(date)s."),
        ),
        (
            r"^(?P<damage>.+) receives no \w+ grant for this plan$",
            _(
                "A household whose house is %(damage)s receives no grant of this part for "
                "this plan."
            ),
        ),
        (
            r"^the grant table gives no deadline for this part$",
            _("The grant table gives no deadline for this part."),
        ),
        (r"^the table needs an? (?P<key>\w+)$", _("The table has no “%(key)s”.")),
        (r"^the table needs (?P<key>\w+)$", _("The table has no “%(key)s”.")),
        (
            r"^(?P<method>\w+) band (?P<row>\d+): unknown class",
            _("%(method)s, row %(row)s: the class is not one of the table's classes."),
        ),
        (r"^kind is damage or grant$", _("“kind” is damage or grant.")),
        (
            r"^(?P<name>.+) ships with Machi; give the city's table its own name$",
            _("%(name)s ships with Machi: give the city's table a name of its own."),
        ),
    )
]


def explain(exc: RecoveryError) -> str:
    """The service's refusal in the page's language (the message as it is if not known)."""
    text = str(exc)
    for pattern, message in _EXPLAINED:
        found = pattern.search(text)
        if found is None:
            continue
        values = found.groupdict()
        if "value" in values:
            values["value"] = _as_typed(values["value"], exc.field)
        return str(message) % values if values else str(message)
    return text


def _as_typed(value: str, field: str) -> str:
    """A value in a message as the surveyor typed it: ratios in per cent, depths in metres."""
    if field in {"loss_ratio", "floor_area_ratio"}:
        try:
            return f"{format((Decimal(value) * 100).normalize(), 'f')}%"
        except ArithmeticError:
            return value
    return f"{value} m" if field == "depth_above_floor_m" else value


def put_error(
    form: forms.BaseForm, exc: RecoveryError, *, rename: Mapping[str, str] | None = None
) -> None:
    """The refusal beside the field it names (or above the form when the form has no such
    field). ``rename`` maps the service's field names to the form's."""
    name = (rename or {}).get(exc.field, exc.field)
    form.add_error(name if name in form.fields else None, explain(exc))


def summary(*forms_: forms.BaseForm | None) -> list[SummaryError]:
    """The error summary of one or more forms (a page with a form and its rows of people)."""
    errors: list[SummaryError] = []
    for form in forms_:
        if form is not None and form.is_bound and form.errors:
            errors += form_error_summary(form)
    return errors


# --- The ledger ---------------------------------------------------------------------------------


class LedgerFilterForm(forms.Form):
    disaster = DisasterField(required=False)
    q = forms.CharField(
        label=_("Name or address"),
        required=False,
        max_length=100,
        help_text=_(
            "Part of the name of the head or of anyone in the household, or of the address."
        ),
        widget=forms.TextInput(attrs={"type": "search"}),
    )


def house_fields(*, prefix: str, required: bool) -> dict[str, forms.Field]:
    """The house registered with the household or the survey."""
    return {
        f"{prefix}address": forms.CharField(
            label=_("Address of the house"),
            max_length=256,
            required=required,
            help_text=_("Where the damaged house stands (被災住家の所在地)."),
        ),
        f"{prefix}structure": forms.ChoiceField(
            label=_("Structure"),
            choices=[("", "—"), *Structure.choices],
            required=required,
        ),
        f"{prefix}storeys": forms.IntegerField(
            label=_("Storeys"),
            min_value=1,
            max_value=200,
            initial=1,
            required=required,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        ),
    }


class HouseholdForm(forms.Form):
    """A household enters the ledger: from the register by its 世帯番号, or by hand."""

    disaster = DisasterField()
    household_number = forms.CharField(
        label=_("Household number (世帯番号)"),
        max_length=15,
        required=False,
        help_text=_("For a household in the resident register: its people are taken from it."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    head_name = forms.CharField(label=_("Head of household"), max_length=64, required=False)
    address = forms.CharField(
        label=_("Address or residence (住所又は居所)"),
        max_length=256,
        required=False,
        help_text=_("Where the household can be reached now."),
    )
    house_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, house_fixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not house_fixed:
            self.fields.update(house_fields(prefix="house_", required=False))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        wants_house = any(cleaned.get(f) for f in ("house_address", "house_structure"))
        if wants_house and not cleaned.get("house_address"):
            self.add_error("house_address", _("Enter the address of the house."))
        if wants_house and not cleaned.get("house_structure"):
            self.add_error("house_structure", _("Choose the structure of the house."))
        return cleaned

    @property
    def wants_house(self) -> bool:
        return bool(self.cleaned_data.get("house_address"))


class MemberForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=64, required=False)
    name_kana = forms.CharField(label=_("Reading (kana)"), max_length=128, required=False)
    birth_date = forms.DateField(label=_("Date of birth"), required=False, widget=_date_input())
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—"), *Sex.choices], required=False)
    relationship = forms.CharField(
        label=_("Relationship (続柄)"),
        max_length=16,
        required=False,
        widget=forms.TextInput(attrs={"list": "relationships"}),
    )


MemberFormSet = forms.formset_factory(MemberForm, extra=MEMBER_ROWS, max_num=MEMBER_ROWS)


def member_summary(formset: forms.BaseFormSet) -> list[SummaryError]:
    """The people's errors for the summary, each named by its row ("Person 2: Name: …")."""
    errors: list[SummaryError] = []
    for index, form in enumerate(formset.forms):
        for field in form:
            for error in field.errors:
                errors.append(
                    SummaryError(
                        summary_anchor(field),
                        str(
                            _("Person %(n)s: %(field)s: %(error)s")
                            % {"n": index + 1, "field": field.label, "error": error}
                        ),
                    )
                )
    return errors


# --- Support, the certificate, the grant --------------------------------------------------------


class SupportForm(forms.Form):
    kind = forms.ChoiceField(label=_("Support"), choices=SupportKind.choices)
    provided_on = forms.DateField(label=_("Provided on"), widget=_date_input())
    amount = forms.IntegerField(
        label=_("Amount (yen)"),
        required=False,
        min_value=0,
        max_value=100_000_000,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class ApplicationForm(forms.Form):
    applicant_name = forms.CharField(
        label=_("Applicant"),
        max_length=64,
        help_text=_("Who applies at the counter: the head, or someone on the household's behalf."),
    )


class ReissueForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for re-issuing"),
        max_length=200,
        help_text=_("For example: lost, or the class changed after a re-survey."),
    )


class GrantForm(forms.Form):
    part = forms.ChoiceField(label=_("Part"), choices=GrantPart.choices, widget=forms.RadioSelect)
    rebuild = forms.ChoiceField(
        label=_("How the household rebuilds"),
        choices=REBUILD_CHOICES,
        required=False,
        help_text=_("For an additional grant."),
    )
    household_size = forms.IntegerField(
        label=_("Household size"),
        min_value=1,
        max_value=100,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=_("A household of one receives three quarters."),
    )
    applied_on = forms.DateField(label=_("Applied on"), widget=_date_input())


GRANT_STATUS_ACTIONS = {
    "approved": _("Approve"),
    "paid": _("Mark as paid"),
    "rejected": _("Reject"),
}


# --- The survey ---------------------------------------------------------------------------------


class MultiplePhotos(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input (the camera roll); each is checked by the service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultiplePhotos(attrs={"accept": "image/jpeg,image/png,image/webp,image/heic"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(PhotosField, self).clean(f, initial) for f in files]


class SurveyForm(forms.Form):
    """One survey, on a surveyor's phone. The ids are made when the form is opened, so sending
    it twice records it once."""

    survey_id = forms.UUIDField(widget=forms.HiddenInput)
    new_house_id = forms.UUIDField(widget=forms.HiddenInput)
    disaster = DisasterField()
    round = forms.ChoiceField(
        label=_("Round"), choices=SurveyRound.choices, widget=forms.RadioSelect
    )
    surveyed_on = forms.DateField(label=_("Surveyed on"), widget=_date_input())
    method = forms.ChoiceField(
        label=_("How the damage is judged"), choices=METHOD_CHOICES, widget=forms.RadioSelect
    )
    loss_ratio = forms.DecimalField(
        label=_("Loss ratio (%)"),
        required=False,
        min_value=0,
        max_value=100,
        max_digits=7,
        decimal_places=4,
        widget=_decimal_input(),
        help_text=_("The economic loss of the house's main parts, in per cent of the whole."),
    )
    floor_area_ratio = forms.DecimalField(
        label=_("Damaged floor area (%)"),
        required=False,
        min_value=0,
        max_value=100,
        max_digits=7,
        decimal_places=4,
        widget=_decimal_input(),
        help_text=_("The damaged floor area, in per cent of the total floor area."),
    )
    external_force = forms.ChoiceField(
        label=_("Damage from external force (外力による損傷)"),
        choices=YES_NO,
        required=False,
        widget=forms.RadioSelect,
        help_text=_("A breached or overflowing levee, a tsunami, debris striking the house…"),
    )
    depth_above_floor_m = forms.DecimalField(
        label=_("Depth above the floor (m)"),
        required=False,
        min_value=0,
        max_value=30,
        max_digits=5,
        decimal_places=2,
        widget=_decimal_input(),
        help_text=_("0 when the water stayed below the floor (床下浸水)."),
    )
    washed_away = forms.BooleanField(label=_("Washed away (流失)"), required=False)
    collapse = forms.BooleanField(
        label=_("The house or a storey visibly collapsed (倒壊)"), required=False
    )
    tilt = forms.CharField(
        label=_("Tilt of the first floor"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 8}),
        help_text=_("The mean tilt, as 1/20 or 0.05."),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    photos = PhotosField(
        label=_("Photos"),
        required=False,
        help_text=_("JPEG, PNG, WebP or HEIC from the phone's camera, at most 10 MB each."),
    )

    def __init__(self, *args: Any, house_fixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not house_fixed:
            fields = house_fields(prefix="", required=True)
            # The house first: the surveyor stands in front of it.
            self.fields = {**fields, **self.fields}

    def clean_tilt(self) -> str:
        tilt: str = self.cleaned_data["tilt"].strip().replace("／", "/")
        if tilt and not re.fullmatch(r"\d+(\.\d+)?(/\d+)?", tilt):
            raise forms.ValidationError(_("Enter the tilt as 1/20 or 0.05."))
        return tilt

    def inputs(self) -> dict[str, Any]:
        """The method's inputs as the rule tables read them (per cent made a ratio)."""
        data = self.cleaned_data
        method = data["method"]
        inputs: dict[str, Any] = {}
        if method in {"loss_ratio", "floor_area_ratio"}:
            percent = data.get(method)
            inputs[method] = None if percent is None else _ratio(percent)
        elif method == "flood_depth":
            if data.get("external_force") in {"yes", "no"}:
                inputs["external_force"] = data["external_force"] == "yes"
            if data.get("washed_away"):
                inputs["washed_away"] = True
            depth = data.get("depth_above_floor_m")
            if depth is not None:
                inputs["depth_above_floor_m"] = str(depth)
        elif method == "earthquake":
            if data.get("collapse"):
                inputs["collapse"] = True
            if data.get("tilt"):
                inputs["tilt"] = data["tilt"]
        return inputs


def _ratio(percent: Decimal) -> str:
    """42 (%) as "0.42": exact, as the rule tables compare."""
    return format((percent / Decimal(100)).normalize(), "f")


def new_ids() -> dict[str, uuid.UUID]:
    return {"survey_id": uuid.uuid4(), "new_house_id": uuid.uuid4()}


def shown_inputs(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A survey's stored inputs, labelled, ratios as per cent (what the surveyor typed)."""
    shown: list[tuple[str, str]] = []
    for key, value in inputs.items():
        if key == "method":
            continue
        label = str(INPUT_LABELS.get(key, key))
        if isinstance(value, bool):
            text = str(_("Yes") if value else _("No"))
        elif key in {"loss_ratio", "floor_area_ratio"}:
            try:
                text = f"{format((Decimal(str(value)) * 100).normalize(), 'f')}%"
            except ArithmeticError:
                text = str(value)
        elif key == "structure":
            text = str(dict(Structure.choices).get(str(value), value))
        else:
            text = str(value)
        shown.append((label, text))
    return shown


# --- Rule tables --------------------------------------------------------------------------------


class RuleTableForm(forms.Form):
    file = forms.FileField(
        label=_("Rule table (JSON)"),
        help_text=_(
            "A table in the format of the shipped ones, with its name (revision), title and "
            "source. A table of the same kind and name is replaced."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "application/json,.json"}),
    )

    def clean_file(self) -> dict[str, Any]:
        upload = self.cleaned_data["file"]
        if upload.size > RULE_FILE_MAX_BYTES:
            raise forms.ValidationError(_("The file is too large for a rule table."))
        try:
            data = json.loads(upload.read().decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise forms.ValidationError(
                _("The file is not JSON (UTF-8): %(error)s"), params={"error": exc}
            ) from exc
        except RecursionError as exc:  # [[[[…]]]] deeper than Python's stack
            raise forms.ValidationError(
                _("The file is not JSON (UTF-8): %(error)s"),
                params={"error": _("it is nested too deeply")},
            ) from exc
        if not isinstance(data, dict):
            raise forms.ValidationError(_("The file must hold one JSON object: the table."))
        return data
