"""Staff pages of the guide room (総合案内), under /console/guide/."""

from django.urls import path

from machi.guide import views

app_name = "guide"

urlpatterns = [
    path("", views.entries, name="entries"),
    path("new/", views.entry_edit, name="entry_new"),
    path("<int:entry_id>/", views.entry_edit, name="entry_edit"),
    path("import/", views.import_file, name="import"),
    path("faq.csv", views.export_file, name="export"),
    path("questions/", views.questions, name="questions"),
]
