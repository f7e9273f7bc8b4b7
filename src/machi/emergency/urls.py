from django.urls import path

from machi.emergency import views

app_name = "emergency"

urlpatterns = [
    path("", views.disasters, name="disasters"),
    path("<int:disaster_id>/", views.disaster, name="disaster"),
    path("<int:disaster_id>/end/", views.disaster_end, name="disaster_end"),
    path("responders/<int:run_id>/retry/", views.responder_retry, name="responder_retry"),
    path("evacuation/", views.evacuation, name="evacuation"),
    path("evacuation/<int:order_id>/lift/", views.evacuation_lift, name="evacuation_lift"),
]
