"""Staff payment actions: counter payment taken, 定額小為替 received, refund made (under
/console/procedures/payments/, namespace "procedures")."""

from django.urls import path

from machi.procedures.payments import views_console

urlpatterns = [
    path("<str:reference>/counter/", views_console.counter_paid, name="payment_counter"),
    path("<str:reference>/postal/", views_console.postal_received, name="payment_postal"),
    path("<str:reference>/refunded/", views_console.refunded, name="payment_refunded"),
    path("<str:reference>/card-refund/", views_console.card_refund, name="payment_card_refund"),
]
