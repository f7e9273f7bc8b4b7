"""The chronology pages (under /console/chronology/)."""

from django.urls import URLPattern, URLResolver, path

from machi.emergency import views_chronology

app_name = "chronology"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views_chronology.timeline, name="timeline"),
    path("entries/", views_chronology.entries, name="entries"),
    path("print.pdf", views_chronology.print_pdf, name="print_pdf"),
    path("export.csv", views_chronology.export_csv, name="export_csv"),
]
