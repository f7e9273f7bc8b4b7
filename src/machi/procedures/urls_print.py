"""Staff printing (送付状, 宛名ラベル), included under /console/procedures/print/ in the
"procedures" namespace (no namespace of its own)."""

from django.urls import path

from machi.procedures import views_print

urlpatterns = [
    path("cover/<str:reference>.pdf", views_print.cover, name="print_cover"),
    path("batch/", views_print.batch, name="print_batch"),
]
