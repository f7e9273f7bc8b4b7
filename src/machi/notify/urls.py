"""Staff pages of the notify room (広報・配信): broadcasts, templates, topics, subscribers."""

from django.urls import path

from machi.notify import views

app_name = "notify_console"

urlpatterns = [
    path("", views.broadcast_list, name="index"),
    path("new/", views.broadcast_new, name="new"),
    path("preview/", views.broadcast_preview, name="preview"),
    path("<uuid:broadcast_id>/", views.broadcast_detail, name="detail"),
    path("<uuid:broadcast_id>/progress/", views.broadcast_progress, name="progress"),
    path("<uuid:broadcast_id>/submit/", views.broadcast_submit, name="submit"),
    path("<uuid:broadcast_id>/approve/", views.broadcast_approve, name="approve"),
    path("<uuid:broadcast_id>/cancel/", views.broadcast_cancel, name="cancel"),
    path("<uuid:broadcast_id>/deliveries.csv", views.deliveries_csv, name="deliveries_csv"),
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_edit, name="template_new"),
    path("templates/<int:template_id>/", views.template_edit, name="template_edit"),
    path("topics/", views.topic_list, name="topics"),
    path("topics/new/", views.topic_edit, name="topic_new"),
    path("topics/<int:topic_id>/", views.topic_edit, name="topic_edit"),
    path("subscribers/", views.subscribers, name="subscribers"),
    path("keys/", views.api_keys, name="keys"),
    path("mailbox/", views.mailbox, name="mailbox"),
]
