"""The residents' side of notifications: subscribe, confirm, manage, unsubscribe, read."""

from django.urls import path

from machi.notify import views_line, views_public

app_name = "notify"

urlpatterns = [
    path("", views_public.subscribe, name="subscribe"),
    path("sent/", views_public.subscribe_sent, name="subscribe_sent"),
    path("confirm/<str:token>/", views_public.confirm, name="confirm"),
    path("manage/<str:token>/", views_public.manage, name="manage"),
    # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" here, without a session.
    path("unsubscribe/<str:token>/", views_public.unsubscribe, name="unsubscribe"),
    path("messages/", views_public.messages, name="messages"),
    path("messages/<uuid:broadcast_id>/", views_public.message, name="message"),
    path("sw.js", views_public.service_worker, name="service_worker"),
    path("push/subscribe", views_public.push_subscribe, name="push_subscribe"),
    path("line/webhook", views_line.line_webhook, name="line_webhook"),
    path("qr.svg", views_public.qr_code, name="qr"),
]
