from django.urls import path

from machi.shelters import views, views_import

app_name = "shelters"

urlpatterns = [
    path("", views.index, name="index"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("supplies/", views.supplies, name="supplies"),
    path("supplies/<int:request_id>/advance/", views.supply_advance, name="supply_advance"),
    path("anpi.csv", views.anpi_csv, name="anpi_csv"),
    path("import/", views_import.shelter_import, name="import"),
    path("openings/<int:opening_id>/", views.opening, name="opening"),
    path("openings/<int:opening_id>/status/", views.set_status, name="set_status"),
    path("openings/<int:opening_id>/checkin/", views.checkin_code, name="checkin_code"),
    path("openings/<int:opening_id>/register/", views.register, name="register"),
    path(
        "openings/<int:opening_id>/people/<uuid:person_id>/checkin/",
        views.checkin_person,
        name="checkin_person",
    ),
    path(
        "openings/<int:opening_id>/people/<uuid:person_id>/edit/",
        views.person_edit,
        name="person_edit",
    ),
    path(
        "openings/<int:opening_id>/checkins/<uuid:checkin_id>/checkout/",
        views.checkout,
        name="checkout",
    ),
    path(
        "openings/<int:opening_id>/checkins/<uuid:checkin_id>/transfer/",
        views.transfer,
        name="transfer",
    ),
    path("openings/<int:opening_id>/supplies/", views.supply_create, name="supply_create"),
    path("openings/<int:opening_id>/roster.csv", views.roster_csv, name="roster_csv"),
    path("openings/<int:opening_id>/roster.pdf", views.roster_pdf, name="roster_pdf"),
]
