"""Payment pages: the card gateway's return and webhook (under /procedures/pay/)."""

from django.urls import path

from machi.procedures.payments import views

urlpatterns = [
    path("return/<uuid:application>/", views.pay_return, name="pay_return"),
    path("start/<uuid:application>/", views.pay_start, name="pay_start"),
    path("webhook/", views.pay_webhook, name="pay_webhook"),
]
