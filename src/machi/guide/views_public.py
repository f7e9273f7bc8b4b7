"""The residents' FAQ assistant page (/guide/): a plain form that works without JavaScript;
the chat widget on every portal page enhances it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from machi.core.middleware import client_ip
from machi.guide import services


@never_cache
@require_GET
def ask(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "").strip()[:500]
    answer = None
    status = 200
    if text:
        if not services.ask_allowed(client_ip(request) or ""):
            return render(request, "guide/public/ask.html", {"limited": True}, status=429)
        language = "en" if (get_language() or "ja").startswith("en") and text.isascii() else ""
        answer = services.ask(text, language=language)
    return render(
        request,
        "guide/public/ask.html",
        {"q": text, "answer": answer, "thanks": thanks_text(request.GET.get("thanks", ""))},
        status=status,
    )


@require_POST
def feedback(request: HttpRequest) -> HttpResponse:
    try:
        question_id = int(request.POST.get("question", "0"))
    except ValueError:
        question_id = 0
    done = services.feedback(
        question_id=question_id,
        token=request.POST.get("token", ""),
        resolved=request.POST.get("resolved") == "yes",
    )
    kind = "" if done is None else ("yes" if request.POST.get("resolved") == "yes" else "no")
    return redirect(f"{request.path.rsplit('feedback/', 1)[0]}?thanks={kind}")


def thanks_text(kind: str) -> str:
    return {
        "yes": _("Thank you. We are glad it helped."),
        "no": _("Thank you. Staff will read your question and improve the answers."),
    }.get(kind, "")
