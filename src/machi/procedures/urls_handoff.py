"""Staff hand-off to other rooms, included under /console/procedures/handoff/ in the
"procedures" namespace (no namespace of its own)."""

from django.urls import path

from machi.procedures import views_handoff

urlpatterns = [
    path("<str:reference>/", views_handoff.link, name="handoff_link"),
]
