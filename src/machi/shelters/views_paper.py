"""Staff pages of the paper fallback (紙運用): print blank cards and rosters for a shelter, and
type the cards in when the system is back.

Who may: those who run the shelter (its staff, HQ), as for its other pages. Blank forms hold no
personal data and are not audited; the cards typed in and the records shown are.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from machi.core import access
from machi.core import selectors as core_selectors
from machi.core import services as core_services
from machi.core.forms import SummaryError, form_error_summary, summary_anchor
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.shelters import paper, services
from machi.shelters.forms_paper import (
    CONSENT_LABELS,
    CardLookupForm,
    CardsPrintForm,
    PaperCardForm,
    PaperMemberForm,
    RosterPrintForm,
    member_formset,
)
from machi.shelters.models import (
    CONSENT_ITEMS,
    Checkin,
    CheckinSource,
    Opening,
    OpeningStatus,
    Person,
)

LIVE = {OpeningStatus.OPEN, OpeningStatus.FULL}


def _opening(request: HttpRequest, opening_id: int) -> Opening:
    opening = get_object_or_404(
        Opening.objects.select_related("shelter__facility", "disaster"), pk=opening_id
    )
    access.require(request.user, Action.UPDATE, opening)
    return opening


def _may_type_in(request: HttpRequest, opening: Opening) -> bool:
    return opening.status in LIVE and access.may(request.user, Action.CREATE, Person)


# --- The page of a shelter: what to print, which card to type in -------------------------------


@dataclass(frozen=True)
class TypedCard:
    """A household typed in from paper at this shelter, as the list shows it."""

    card: paper.CardId | None  # None: a paper record that came without a Machi card
    names: list[str]
    checked_in_at: dt.datetime  # as written on the card
    checked_out_at: dt.datetime | None
    typed_at: dt.datetime


def _typed_cards(request: HttpRequest, opening: Opening) -> tuple[list[TypedCard], list[Person]]:
    stays = access.scope(
        request.user,
        Action.READ,
        Checkin.objects.filter(opening=opening, source=CheckinSource.PAPER),
    ).select_related("person__household")
    households: dict[uuid.UUID, list[Checkin]] = {}
    for stay in stays.order_by("person__created_at", "person_id"):
        households.setdefault(stay.person.household_id, []).append(stay)
    cards = [
        TypedCard(
            card=next((c for c in map(paper.CardId.from_uuid, (s.pk for s in group)) if c), None),
            names=[str(s.person) for s in group],
            checked_in_at=group[0].checked_in_at,
            checked_out_at=group[0].checked_out_at,
            typed_at=group[0].person.household.created_at,
        )
        for group in households.values()
    ]
    cards.sort(key=lambda row: row.typed_at, reverse=True)
    people = [stay.person for group in households.values() for stay in group]
    return cards, people


def _paper_page(
    request: HttpRequest,
    opening: Opening,
    *,
    cards_form: CardsPrintForm | None = None,
    roster_form: RosterPrintForm | None = None,
    lookup: CardLookupForm | None = None,
    status: int = 200,
) -> HttpResponse:
    cards_form = cards_form or CardsPrintForm()
    roster_form = roster_form or RosterPrintForm()
    lookup = lookup or CardLookupForm()
    typed, people = _typed_cards(request, opening)
    if people:
        core_services.audit_record(
            action=Action.READ,
            record=opening,
            detail={"paper_cards": len(typed), "persons": [str(p.pk) for p in people]},
        )
    errors = [
        *form_error_summary(cards_form, anchor="#print-cards"),
        *form_error_summary(roster_form, anchor="#print-roster"),
        *form_error_summary(lookup, anchor="#type-in"),
    ]
    return render(
        request,
        "shelters/paper/opening.html",
        {
            "opening": opening,
            "cards_form": cards_form,
            "roster_form": roster_form,
            "lookup": lookup,
            "errors": errors,
            "typed": typed,
            "can_type": _may_type_in(request, opening),
        },
        status=status,
    )


@staff_required
@require_GET
def opening(request: HttpRequest, opening_id: int) -> HttpResponse:
    return _paper_page(request, _opening(request, opening_id))


def _pdf(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    # Opened in the browser, to print at once. Never from a cache: each card's number is new.
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _city() -> str:
    city = core_selectors.municipality_current()
    return city.name if city else ""


@staff_required
@require_GET
def cards_pdf(request: HttpRequest, opening_id: int) -> HttpResponse:
    """Blank 避難者カード, each with a fresh number (no personal data: not audited)."""
    found = _opening(request, opening_id)
    form = CardsPrintForm(request.GET)
    if not form.is_valid():
        return _paper_page(request, found, cards_form=form, status=400)
    cards = [paper.CardId.new() for _ in range(form.cleaned_data["count"])]
    content = paper.cards_pdf(
        cards, shelter=str(found.shelter), disaster=found.disaster.name, city=_city()
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return _pdf(content, f"cards-{found.pk}-{stamp}.pdf")


@staff_required
@require_GET
def roster_pdf(request: HttpRequest, opening_id: int) -> HttpResponse:
    """A blank 避難者名簿 to fill by hand (the system's filled one: shelters:roster_pdf)."""
    found = _opening(request, opening_id)
    form = RosterPrintForm(request.GET)
    if not form.is_valid():
        return _paper_page(request, found, roster_form=form, status=400)
    content = paper.roster_pdf(
        pages=form.cleaned_data["pages"],
        shelter=str(found.shelter),
        disaster=found.disaster.name,
        city=_city(),
    )
    return _pdf(content, f"roster-blank-{found.pk}.pdf")


@staff_required
@require_GET
def card_find(request: HttpRequest, opening_id: int) -> HttpResponse:
    """The card scanned or typed: its record if it was typed in, else its form."""
    found = _opening(request, opening_id)
    lookup = CardLookupForm(request.GET)
    if not lookup.is_valid():
        return _paper_page(request, found, lookup=lookup, status=400)
    card: paper.CardId = lookup.cleaned_data["card"]
    return redirect("shelters_paper:card", opening_id=found.pk, card_uuid=card.uuid)


@staff_required
@require_POST
def card_new(request: HttpRequest, opening_id: int) -> HttpResponse:
    """A new number for a card that has none (the city's own forms, a card photocopied)."""
    found = _opening(request, opening_id)
    access.require(request.user, Action.CREATE, Person)
    card = paper.CardId.new()
    messages.info(
        request,
        _("Write this number on the paper card before typing it in: %(code)s")
        % {"code": card.code},
    )
    return redirect("shelters_paper:card", opening_id=found.pk, card_uuid=card.uuid)


# --- One card: typed in, or shown -----------------------------------------------------------------


def _member_message(field: str) -> str:
    """What staff read for a service error on a person (the service's own text is English)."""
    return {
        "family_name": _("Enter the family name written on the card."),
        "birth_date": _("The date of birth is in the future: check the year."),
    }.get(field, _("Check this entry."))


def _attach_error(
    exc: services.ShelterError, household: PaperCardForm, filled: list[PaperMemberForm]
) -> None:
    """Put an error of the paper module or the services on the field it names."""
    if exc.field.startswith("members[") and "]." in exc.field:
        index_text, name = exc.field.removeprefix("members[").split("].", 1)
        if index_text.isdecimal() and int(index_text) < len(filled):
            form = filled[int(index_text)]
            form.add_error(name if name in form.fields else None, _member_message(name))
            return
    if exc.field in household.fields:
        household.add_error(exc.field, str(exc))
    elif exc.field == "shelter_id":
        household.add_error(
            None, _("The shelter is not open: cards are typed in while it is open or full.")
        )
    else:
        household.add_error(None, str(exc))


def _error_summary(
    household: PaperCardForm, members: forms.BaseFormSet[PaperMemberForm]
) -> list[SummaryError]:
    errors = form_error_summary(household, anchor="#card-household")
    errors += [SummaryError("#members", str(e)) for e in members.non_form_errors()]
    for form in members.forms:
        person = _("Person %(number)s") % {"number": form.number}
        errors += [
            SummaryError(f"#member-{form.number}", f"{person}: {e}")
            for e in form.non_field_errors()
        ]
        errors += [
            SummaryError(
                summary_anchor(field),
                _("%(person)s, %(field)s: %(error)s")
                % {"person": person, "field": field.label, "error": e},
            )
            for field in form
            for e in field.errors
        ]
    return errors


def _person_input(form: PaperMemberForm, consent: list[str]) -> services.PersonInput:
    data = form.cleaned_data
    return services.PersonInput(
        family_name=data["family_name"],
        given_name=data["given_name"],
        family_name_kana=data["family_name_kana"],
        given_name_kana=data["given_name_kana"],
        birth_date=data["birth_date"],
        sex=data["sex"],
        needs=data["needs"],
        allergies=data["allergies"],
        needs_note=data["needs_note"],
        consent=dict.fromkeys(consent, True),
    )


@staff_required
@never_cache  # what was typed (health details too) stays out of every cache
@require_http_methods(["GET", "POST"])
def card(request: HttpRequest, opening_id: int, card_uuid: uuid.UUID) -> HttpResponse:
    found = _opening(request, opening_id)
    card_id = paper.CardId.from_uuid(card_uuid)
    if card_id is None:
        raise Http404("no card has this id")
    existing = paper.card_find(card_id)
    if existing is not None:
        return _typed_before(request, found, card_id, existing)
    if not _may_type_in(request, found):
        messages.error(
            request, _("Cards are typed in while the shelter is open (or full), by its staff.")
        )
        return redirect("shelters_paper:opening", opening_id=found.pk)
    bound = request.POST if request.method == "POST" else None
    household = PaperCardForm(bound, disaster=found.disaster)
    members = member_formset()(bound, prefix="members")
    if bound is not None and household.is_valid() and members.is_valid():
        # Rows left blank are skipped (a blank extra form has no cleaned data).
        filled: list[PaperMemberForm] = [form for form in members.forms if form.cleaned_data]
        data = household.cleaned_data
        try:
            record = paper.card_record(
                card=card_id,
                opening=found,
                members=[_person_input(form, data["consent"]) for form in filled],
                checked_in_at=data["checked_in_at"],
                checked_out_at=data["checked_out_at"],
                address=data["address"],
                phone=data["phone"],
                pets=data["pets"],
            )
        except services.ShelterError as exc:
            _attach_error(exc, household, filled)
        else:
            if record.created:
                messages.success(request, _("Card %(code)s typed in.") % {"code": card_id.code})
            return redirect("shelters_paper:card", opening_id=found.pk, card_uuid=card_id.uuid)
    return render(
        request,
        "shelters/paper/card_form.html",
        {
            "opening": found,
            "card": card_id,
            "household_form": household,
            "members": members,
            "errors": _error_summary(household, members) if bound is not None else [],
        },
        status=400 if bound is not None else 200,
    )


def _typed_before(
    request: HttpRequest, opening: Opening, card_id: paper.CardId, first: Checkin
) -> HttpResponse:
    """A card typed in already: its record (typing it again records nothing)."""
    if request.method == "POST":
        messages.info(
            request, _("This card had been typed in already: nothing was recorded again.")
        )
    if first.opening_id != opening.pk:
        if first.opening is not None and access.may(request.user, Action.UPDATE, first.opening):
            return redirect(
                "shelters_paper:card", opening_id=first.opening_id, card_uuid=card_id.uuid
            )
        messages.error(
            request,
            _(
                "Card %(code)s has been typed in at another shelter. If this is another "
                "household's card (a photocopy), type it in with a new number."
            )
            % {"code": card_id.code},
        )
        return redirect("shelters_paper:opening", opening_id=opening.pk)
    if request.method == "POST":
        return redirect("shelters_paper:card", opening_id=opening.pk, card_uuid=card_id.uuid)
    household = first.person.household
    stays = list(
        access.scope(
            request.user,
            Action.READ,
            Checkin.objects.filter(person__household=household, opening=opening),
        )
        .select_related("person")
        .order_by("person__created_at", "person_id", "checked_in_at")
    )
    people = list({stay.person_id: stay.person for stay in stays}.values())
    core_services.audit_record_many(action=Action.READ, records=people)
    consented = people[0].consent if people else {}
    return render(
        request,
        "shelters/paper/card_record.html",
        {
            "opening": opening,
            "card": card_id,
            "household": household,
            "first": first,
            "stays": stays,
            "consent": [str(CONSENT_LABELS[item]) for item in CONSENT_ITEMS if consented.get(item)],
            "can_type": _may_type_in(request, opening),
        },
    )
