"""Fees for online procedures: a resident pays at the counter, by 定額小為替, or by card on a
gateway's page; clerks record what they receive; only the gateway's signed word marks a card
payment paid; a rejected or withdrawn application gets its fee back."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.test import Client

from machi.core.models import AuditEvent, User
from machi.core.roles import Action, Role
from machi.procedures import catalogue
from machi.procedures import services as procedure_services
from machi.procedures.models import Application, Payment, PaymentEvent, PaymentStatus, Procedure
from machi.procedures.payments import base, card, services
from machi.procedures.payments.base import PaymentError
from machi.procedures.peers.card_gateway import CARD_DECLINED, CARD_SUCCEEDS, CardGateway

pytestmark = pytest.mark.django_db

KEY = "test-card-key"
SECRET = "test-webhook-secret"
WEBHOOK = "/procedures/pay/webhook/"


@pytest.fixture(autouse=True)
def _in_english(settings: Any) -> Iterator[None]:
    """These tests read the pages in English (the msgids); the pages default to Japanese."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def procedures(db: Any) -> dict[str, Procedure]:
    return {p.slug: p for p in catalogue.catalogue_load()}


@pytest.fixture
def no_card(settings: Any) -> None:
    settings.MACHI_CARD_API_URL = ""


@pytest.fixture
def gateway(settings: Any) -> Iterator[CardGateway]:
    fake = CardGateway(api_key=KEY, webhook_secret=SECRET).start()
    settings.MACHI_CARD_API_URL = fake.base_url
    settings.MACHI_CARD_API_KEY = KEY
    settings.MACHI_CARD_WEBHOOK_SECRET = SECRET
    yield fake
    fake.stop()


@pytest.fixture
def clerk(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.COUNTER, username="shimin", department="市民課")


ANSWERS: dict[str, dict[str, Any]] = {
    "inkan": {"copies": 1, "purpose": "提出"},
    "kazei": {"copies": 1, "year": 2025, "purpose": "提出"},
    "sodai-gomi": {"items": "たんす"},
}


def submit(
    procedure: Procedure, *, delivery: str = "counter", channel: str = "online"
) -> Application:
    return procedure_services.application_submit(
        procedure=procedure,
        applicant=procedure_services.Applicant(name="戸田 太郎", email="toda@example.jp"),
        answers=ANSWERS[procedure.slug],
        delivery=delivery,
        channel=channel,
    )


def return_url(application: Application) -> str:
    return f"http://testserver/procedures/pay/return/{application.pk}/"


def kinds(payment: Payment) -> list[str]:
    return list(payment.events.values_list("kind", flat=True))


def deliver(client: Client, gateway: CardGateway, event: dict[str, Any], **sign: Any) -> Any:
    body, headers = gateway.webhook_request(event, **sign)
    return client.post(
        WEBHOOK,
        data=body,
        content_type="application/json",
        HTTP_CARD_SIGNATURE=headers["Card-Signature"],
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def pay_on_page(url: str, card_number: str, action: str = "pay") -> tuple[int, str]:
    """The resident on the gateway's hosted page: the answer's status and where it sends them."""
    opener = urllib.request.build_opener(_NoRedirect)
    data = urllib.parse.urlencode({"card_number": card_number, "action": action}).encode()
    try:
        with opener.open(url, data=data, timeout=5) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def api(
    gateway: CardGateway, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, Any], Any]:
    request = urllib.request.Request(  # noqa: S310 - the loopback fake
        gateway.base_url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


def card_paid(client: Client, gateway: CardGateway, application: Application) -> Payment:
    payment = services.payment_create(application=application, provider_name="card")
    start = services.payment_start(payment=payment, return_url=return_url(application))
    assert pay_on_page(start.redirect_url, CARD_SUCCEEDS)[0] == 303
    assert deliver(client, gateway, gateway.events[-1]).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    return payment


# --- Which ways to pay ------------------------------------------------------------------------


def test_a_free_procedure_asks_nothing_and_the_counter_only_where_results_are_collected(
    procedures: dict[str, Procedure], settings: Any, no_card: None
) -> None:
    def names(slug: str, **kw: Any) -> list[str]:
        return [p.name for p in base.providers_for(procedures[slug], **kw)]

    assert names("inkan") == ["counter", "postal_order"]
    assert names("risai") == []  # 罹災証明書: free
    assert names("kazei") == ["postal_order"]  # mailed only: nobody comes to the counter
    assert names("inkan", delivery="mail") == ["postal_order"]
    settings.MACHI_CARD_API_URL = "http://127.0.0.1:9"
    assert names("inkan") == ["card", "counter", "postal_order"]
    assert all(str(p.label) for p in base.providers_for(procedures["inkan"]))


def test_a_payment_is_made_once_for_the_fee_with_a_way_on_offer(
    procedures: dict[str, Procedure], no_card: None
) -> None:
    application = submit(procedures["inkan"])
    payment = services.payment_create(application=application, provider_name="counter")
    assert (payment.amount_yen, payment.status) == (300, PaymentStatus.PENDING)
    assert kinds(payment) == ["created"]
    assert AuditEvent.objects.filter(
        action=Action.CREATE, object_type="procedures.payment", object_id=str(payment.pk)
    ).exists()
    with pytest.raises(PaymentError) as again:
        services.payment_create(application=application, provider_name="postal_order")
    assert again.value.field == "provider"
    with pytest.raises(PaymentError) as free:
        services.payment_create(
            application=submit(procedures["sodai-gomi"], delivery="electronic"),
            provider_name="counter",
        )
    assert free.value.field == "provider"
    with pytest.raises(PaymentError) as card_off:
        services.payment_create(application=submit(procedures["inkan"]), provider_name="card")
    assert card_off.value.field == "provider"
    with pytest.raises(PaymentError) as mailed:
        services.payment_create(
            application=submit(procedures["inkan"], delivery="mail"), provider_name="counter"
        )
    assert mailed.value.field == "provider"
    # Applied for at the counter, mailed later: paid there and then.
    at_counter = submit(procedures["inkan"], delivery="mail", channel="counter")
    assert services.payment_create(application=at_counter, provider_name="counter").pk
    # The application page includes the panel as below: nothing shows without a payment.
    include = Template(
        '{% include "procedures/payments/_panel.html" with payment=application.payment %}'
    )
    without = submit(procedures["inkan"])
    assert include.render(Context({"application": without})).strip() == ""
    assert "300" in include.render(Context({"application": application}))


# --- Paid by hand ---------------------------------------------------------------------------------


def test_a_clerk_records_a_counter_payment_from_the_application_page(
    procedures: dict[str, Procedure],
    no_card: None,
    clerk: User,
    auditor: User,
    client_for: Callable[[User], Client],
) -> None:
    application = submit(procedures["inkan"])
    payment = services.payment_create(application=application, provider_name="counter")
    start = services.payment_start(payment=payment, return_url="")
    assert application.reference in start.instructions
    assert "300" in start.instructions
    assert not start.redirect_url
    panel = render_to_string(
        "procedures/payments/_panel.html",
        {"application": application, "payment": payment, "can_update": True},
    )
    url = f"/console/procedures/payments/{application.reference}/counter/"
    assert f'action="{url}"' in panel

    assert client_for(auditor).post(url, {"receipt": "R-1"}).status_code == 403
    client = client_for(clerk)
    answer = client.post(url, {"receipt": "R-0001", "amount_yen": "300"}, follow=True)
    assert answer.redirect_chain[0][0] == f"/console/procedures/{application.reference}/"
    payment.refresh_from_db()
    assert (payment.status, payment.external_id) == (PaymentStatus.PAID, "R-0001")
    paid = payment.events.get(kind="paid")
    assert (paid.actor, paid.data["amount_yen"]) == ("shimin", 300)
    again = client.post(url, {"receipt": "R-0002"}, follow=True)
    assert "already" in again.content.decode()
    assert payment.events.filter(kind="paid").count() == 1


def test_postal_orders_short_of_the_fee_are_refused_then_recorded_with_their_numbers(
    procedures: dict[str, Procedure],
    no_card: None,
    clerk: User,
    client_for: Callable[[User], Client],
) -> None:
    application = submit(procedures["kazei"], delivery="mail")
    payment = services.payment_create(application=application, provider_name="postal_order")
    instructions = services.payment_start(payment=payment, return_url="").instructions
    assert "定額小為替" in instructions
    assert application.reference in instructions
    page = Client().get(f"/procedures/pay/return/{application.pk}/")
    assert page.status_code == 200
    assert application.reference in page.content.decode()

    with pytest.raises(PaymentError) as short:
        services.mark_paid(payment=payment, by=clerk, detail={"orders": "AB1", "amount_yen": "200"})
    assert short.value.field == "amount_yen"
    with pytest.raises(PaymentError) as unnumbered:
        services.mark_paid(payment=payment, by=clerk, detail={"amount_yen": 300})
    assert unnumbered.value.field == "orders"

    url = f"/console/procedures/payments/{application.reference}/postal/"
    client = client_for(clerk)
    refused = client.post(url, {"orders": "AB123456", "amount_yen": "200"}, follow=True)
    assert "short" in refused.content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    client.post(url, {"orders": "AB123456\nAB123457", "amount_yen": "350"})
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.detail["orders"] == ["AB123456", "AB123457"]
    assert (payment.detail["amount_yen"], payment.detail["excess_yen"]) == (350, 50)
    assert kinds(payment) == ["created", "paid"]


# --- Card -----------------------------------------------------------------------------------------


def test_a_card_payment_is_paid_when_the_gateways_signed_webhook_says_so_once(
    procedures: dict[str, Procedure], gateway: CardGateway
) -> None:
    application = submit(procedures["inkan"], delivery="mail")
    payment = services.payment_create(application=application, provider_name="card")
    start = services.payment_start(payment=payment, return_url=return_url(application))
    session_id = start.external_id
    assert start.redirect_url == f"{gateway.base_url}/pay/{session_id}"
    assert payment.external_id == session_id
    sent = gateway.requests[0]
    assert sent["authorization"] == f"Bearer {KEY}"
    assert sent["idempotency_key"] == f"machi-checkout-{application.pk}-1"
    assert sent["body"]["amount"] == 300
    assert sent["body"]["currency"] == "JPY"
    assert sent["body"]["reference"] == application.reference
    assert sent["body"]["success_url"] == return_url(application) + "?result=success"
    # Asked again (the resident pressed twice): the same checkout, nothing recorded twice.
    assert services.payment_start(payment=payment, return_url=return_url(application)) == start
    assert kinds(payment) == ["created", "checkout.created"]

    status, location = pay_on_page(start.redirect_url, CARD_SUCCEEDS)
    assert (status, location) == (303, return_url(application) + "?result=success")
    resident = Client()
    # Coming back proves nothing: without the gateway's word the fee is still to be paid.
    assert "Waiting for payment" in resident.get(location.split("?")[0]).content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING

    event = gateway.events[-1]
    assert event["type"] == "checkout.completed"
    body, headers = gateway.webhook_request(event)
    forged = body.replace(b"300", b"30")
    assert (
        resident.post(
            WEBHOOK,
            data=forged,
            content_type="application/json",
            HTTP_CARD_SIGNATURE=headers["Card-Signature"],
        ).status_code
        == 400
    )
    assert deliver(resident, gateway, event, secret="not-the-secret").status_code == 400
    stale = deliver(resident, gateway, event, timestamp=int(time.time()) - 600)
    assert stale.status_code == 400
    with pytest.raises(PaymentError) as old:
        services.webhook_receive(*_signed(gateway, event, timestamp=int(time.time()) - 600))
    assert old.value.field == "signature"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING

    assert deliver(resident, gateway, event).status_code == 200
    assert deliver(resident, gateway, event).status_code == 200  # the gateway retried
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.paid_at is not None
    assert payment.events.filter(kind="checkout.completed").count() == 1
    assert payment.events.get(kind="checkout.completed").external_event_id == event["id"]
    assert "Thank you" in resident.get(return_url(application)).content.decode()


def _signed(gateway: CardGateway, event: dict[str, Any], **kw: Any) -> tuple[bytes, str]:
    body, headers = gateway.webhook_request(event, **kw)
    return body, headers["Card-Signature"]


def test_the_return_page_asks_the_gateway_once_when_the_resident_is_back_before_the_webhook(
    procedures: dict[str, Procedure], gateway: CardGateway
) -> None:
    application = submit(procedures["inkan"], delivery="mail")
    payment = services.payment_create(application=application, provider_name="card")
    start = services.payment_start(payment=payment, return_url=return_url(application))
    resident = Client()
    # Not paid at the gateway: saying "success" changes nothing.
    resident.get(return_url(application) + "?result=success")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING

    event = gateway.complete(start.external_id)  # paid; the webhook is late
    page = resident.get(return_url(application) + "?result=success")
    assert "Thank you" in page.content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    paid_at = payment.paid_at
    reads = [r for r in gateway.requests if r["method"] == "GET"]
    assert [r["path"] for r in reads] == [f"/v1/checkout/sessions/{start.external_id}"] * 2

    assert deliver(resident, gateway, event).status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.paid_at) == (PaymentStatus.PAID, paid_at)


def test_a_declined_card_fails_and_the_resident_may_start_a_new_checkout(
    procedures: dict[str, Procedure], gateway: CardGateway
) -> None:
    application = submit(procedures["inkan"], delivery="mail")
    payment = services.payment_create(application=application, provider_name="card")
    start = services.payment_start(payment=payment, return_url=return_url(application))
    assert pay_on_page(start.redirect_url, CARD_DECLINED)[0] == 402
    resident = Client()
    assert deliver(resident, gateway, gateway.events[-1]).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    page = resident.get(return_url(application)).content.decode()
    assert "did not go through" in page

    again = resident.post(f"/procedures/pay/start/{application.pk}/")
    assert again.status_code == 302
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.external_id != start.external_id
    assert again["Location"] == f"{gateway.base_url}/pay/{payment.external_id}"
    assert gateway.requests[-1]["idempotency_key"] == f"machi-checkout-{application.pk}-2"
    assert pay_on_page(again["Location"], CARD_SUCCEEDS)[0] == 303
    assert deliver(resident, gateway, gateway.events[-1]).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_gateway_that_is_down_gives_a_clear_error_and_nothing_half_written(
    procedures: dict[str, Procedure], gateway: CardGateway, settings: Any
) -> None:
    application = submit(procedures["inkan"], delivery="mail")
    payment = services.payment_create(application=application, provider_name="card")
    gateway.fail_next(1, status=503)
    with pytest.raises(PaymentError) as refused:
        services.payment_start(payment=payment, return_url=return_url(application))
    assert refused.value.field == "gateway"
    assert "503" in str(refused.value)

    settings.MACHI_CARD_API_URL = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(PaymentError) as down:
        services.payment_start(payment=payment, return_url=return_url(application))
    assert "cannot be reached" in str(down.value)
    payment.refresh_from_db()
    assert (payment.status, payment.external_id) == (PaymentStatus.PENDING, "")
    assert kinds(payment) == ["created"]

    resident = Client()
    answer = resident.post(f"/procedures/pay/start/{application.pk}/", follow=True)
    assert answer.redirect_chain[-1][0] == f"/procedures/pay/return/{application.pk}/"
    assert "not available right now" in answer.content.decode()
    assert kinds(payment) == ["created"]


# --- Refunds when the application ends ------------------------------------------------------------


def test_an_unpaid_fee_is_voided_when_the_application_is_rejected(
    procedures: dict[str, Procedure], no_card: None, django_capture_on_commit_callbacks: Any
) -> None:
    application = submit(procedures["inkan"])
    payment = services.payment_create(application=application, provider_name="counter")
    with django_capture_on_commit_callbacks(execute=True):
        procedure_services.status_change(application=application, status="rejected", by=None)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.VOID
    assert kinds(payment) == ["created", "void"]


def test_money_taken_by_hand_is_left_to_a_clerk_to_return_and_record(
    procedures: dict[str, Procedure],
    no_card: None,
    clerk: User,
    client_for: Callable[[User], Client],
    django_capture_on_commit_callbacks: Any,
) -> None:
    at_counter = submit(procedures["inkan"])
    by_post = submit(procedures["kazei"], delivery="mail")
    counter = services.payment_create(application=at_counter, provider_name="counter")
    postal = services.payment_create(application=by_post, provider_name="postal_order")
    services.mark_paid(payment=counter, by=clerk, receipt="R-9")
    services.mark_paid(payment=postal, by=clerk, detail={"orders": ["X1"], "amount_yen": 300})
    with django_capture_on_commit_callbacks(execute=True):
        procedure_services.status_change(application=at_counter, status="rejected", by=clerk)
        procedure_services.status_change(application=by_post, status="withdrawn", by=None)
    counter.refresh_from_db()
    postal.refresh_from_db()
    assert counter.status == postal.status == PaymentStatus.REFUND_DUE

    panel = render_to_string(
        "procedures/payments/_panel.html",
        {"application": at_counter, "payment": counter, "can_update": True},
    )
    url = f"/console/procedures/payments/{at_counter.reference}/refunded/"
    assert f'action="{url}"' in panel
    client_for(clerk).post(url, {"note": "窓口で現金返還"})
    counter.refresh_from_db()
    assert counter.status == PaymentStatus.REFUNDED
    assert counter.refunded_at is not None
    assert counter.events.get(kind="refunded").data["note"] == "窓口で現金返還"


def test_a_card_payment_is_refunded_through_the_gateway_when_the_application_is_rejected(
    procedures: dict[str, Procedure],
    gateway: CardGateway,
    django_capture_on_commit_callbacks: Any,
) -> None:
    application = submit(procedures["inkan"], delivery="mail")
    resident = Client()
    payment = card_paid(resident, gateway, application)
    with django_capture_on_commit_callbacks(execute=True):
        procedure_services.status_change(application=application, status="rejected", by=None)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert len(gateway.refunds) == 1
    refund_request = next(r for r in gateway.requests if r["path"] == "/v1/refunds")
    assert refund_request["idempotency_key"] == f"machi-refund-{application.pk}"
    # The gateway confirms later; counted, nothing changes.
    assert deliver(resident, gateway, gateway.events[-1]).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert kinds(payment)[-2:] == ["refunded", "refund.succeeded"]


def test_a_card_refund_the_gateway_refused_is_left_due_and_retried_by_staff(
    procedures: dict[str, Procedure],
    gateway: CardGateway,
    clerk: User,
    client_for: Callable[[User], Client],
    django_capture_on_commit_callbacks: Any,
) -> None:
    application = submit(procedures["inkan"], delivery="mail")
    payment = card_paid(Client(), gateway, application)
    gateway.fail_next(1, status=500)
    with django_capture_on_commit_callbacks(execute=True):
        procedure_services.status_change(application=application, status="withdrawn", by=None)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUND_DUE
    assert "500" in payment.events.get(kind="refund.failed").data["error"]
    assert gateway.refunds == {}

    url = f"/console/procedures/payments/{application.reference}/card-refund/"
    panel = render_to_string(
        "procedures/payments/_panel.html",
        {"application": application, "payment": payment, "can_update": True},
    )
    assert f'action="{url}"' in panel
    client_for(clerk).post(url)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.events.get(kind="refunded").actor == "shimin"
    assert len(gateway.refunds) == 1


def test_a_card_paid_after_the_application_was_withdrawn_is_refunded_at_once(
    procedures: dict[str, Procedure],
    gateway: CardGateway,
    django_capture_on_commit_callbacks: Any,
) -> None:
    application = submit(procedures["inkan"], delivery="mail")
    payment = services.payment_create(application=application, provider_name="card")
    start = services.payment_start(payment=payment, return_url=return_url(application))
    with django_capture_on_commit_callbacks(execute=True):
        procedure_services.status_change(application=application, status="withdrawn", by=None)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.VOID
    event = gateway.complete(start.external_id)  # the page was still open in another tab
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(Client(), gateway, event).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert len(gateway.refunds) == 1


# --- The fake gateway keeps the rules a real one keeps -------------------------------------------


def test_the_fake_gateway_checks_the_key_and_honours_idempotency(gateway: CardGateway) -> None:
    session = {
        "amount": 300,
        "currency": "JPY",
        "reference": "ABCD-EFGH-JKMN",
        "success_url": "http://testserver/ok",
        "cancel_url": "http://testserver/no",
    }
    auth = {"Authorization": f"Bearer {KEY}"}
    assert api(gateway, "POST", "/v1/checkout/sessions", session)[0] == 401
    status, first, _ = api(
        gateway, "POST", "/v1/checkout/sessions", session, **auth, **{"Idempotency-Key": "k1"}
    )
    assert status == 200
    status, again, headers = api(
        gateway, "POST", "/v1/checkout/sessions", session, **auth, **{"Idempotency-Key": "k1"}
    )
    assert (status, again["id"], headers["Idempotent-Replayed"]) == (200, first["id"], "true")
    assert len(gateway.sessions) == 1
    other = {**session, "amount": 600}
    status, error, _ = api(
        gateway, "POST", "/v1/checkout/sessions", other, **auth, **{"Idempotency-Key": "k1"}
    )
    assert (status, error["error"]["type"]) == (409, "idempotency_error")

    refund = {"session": first["id"]}
    assert api(gateway, "POST", "/v1/refunds", refund, **auth)[0] == 400  # not paid yet
    gateway.complete(first["id"])
    once, twice = {**auth, "Idempotency-Key": "r1"}, {**auth, "Idempotency-Key": "r2"}
    status, refunded, _ = api(gateway, "POST", "/v1/refunds", refund, **once)
    assert (status, refunded["status"]) == (200, "succeeded")
    replay = api(gateway, "POST", "/v1/refunds", refund, **once)
    assert (replay[0], replay[1]["id"]) == (200, refunded["id"])
    assert api(gateway, "POST", "/v1/refunds", refund, **twice)[0] == 400  # refunded once only
    assert len(gateway.refunds) == 1
    read = api(gateway, "GET", f"/v1/checkout/sessions/{first['id']}", **auth)[1]
    assert (read["status"], read["payment_status"]) == ("complete", "refunded")


class _Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint that fails its first delivery."""

    received: list[tuple[bytes, str]] = []
    answers: list[int] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((body, self.headers.get("Card-Signature", "")))
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_the_fake_gateway_signs_its_webhooks_and_retries_until_answered(
    settings: Any,
) -> None:
    settings.MACHI_CARD_WEBHOOK_SECRET = SECRET
    _Receiver.received, _Receiver.answers = [], [500]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with CardGateway(
            api_key=KEY, webhook_secret=SECRET, webhook_url=url, retry_delays=(0.05, 0.05)
        ) as gateway:
            status, session, _ = api(
                gateway,
                "POST",
                "/v1/checkout/sessions",
                {
                    "amount": 300,
                    "currency": "JPY",
                    "success_url": "http://x.example/ok",
                    "cancel_url": "http://x.example/no",
                },
                Authorization=f"Bearer {KEY}",
            )
            assert status == 200
            event = gateway.complete(session["id"])
            _wait(lambda: gateway.delivered(event["id"]))
            assert [d["status"] for d in gateway.deliveries] == [500, 200]
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Receiver.received) == 2
    body, signature = _Receiver.received[-1]
    card.signature_verify(body, signature)  # our side accepts what it sends
    assert json.loads(body)["type"] == "checkout.completed"


@pytest.mark.django_db(transaction=True)
def test_end_to_end_over_http_the_gateways_webhook_reaches_machi(
    live_server: Any, settings: Any
) -> None:
    procedures = {p.slug: p for p in catalogue.catalogue_load()}
    with CardGateway(
        api_key=KEY,
        webhook_secret=SECRET,
        webhook_url=f"{live_server.url}{WEBHOOK}",
        retry_delays=(0.1, 0.3),
    ) as gateway:
        settings.MACHI_CARD_API_URL = gateway.base_url
        settings.MACHI_CARD_API_KEY = KEY
        settings.MACHI_CARD_WEBHOOK_SECRET = SECRET
        application = submit(procedures["inkan"], delivery="mail")
        payment = services.payment_create(application=application, provider_name="card")
        back = f"{live_server.url}/procedures/pay/return/{application.pk}/"
        start = services.payment_start(payment=payment, return_url=back)
        status, location = pay_on_page(start.redirect_url, CARD_SUCCEEDS)
        assert (status, location) == (303, back + "?result=success")
        _wait(lambda: gateway.delivered(gateway.events[-1]["id"]))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert PaymentEvent.objects.filter(payment=payment, kind="checkout.completed").count() == 1
