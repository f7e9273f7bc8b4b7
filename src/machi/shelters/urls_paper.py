"""Shelter pages: the paper fallback (see machi.shelters.views_paper)."""

from django.urls import path

from machi.shelters import views_paper

app_name = "shelters_paper"

urlpatterns = [
    path("openings/<int:opening_id>/", views_paper.opening, name="opening"),
    path("openings/<int:opening_id>/cards.pdf", views_paper.cards_pdf, name="cards_pdf"),
    path("openings/<int:opening_id>/roster.pdf", views_paper.roster_pdf, name="roster_pdf"),
    path("openings/<int:opening_id>/card/", views_paper.card_find, name="card_find"),
    path("openings/<int:opening_id>/card/new/", views_paper.card_new, name="card_new"),
    path("openings/<int:opening_id>/cards/<uuid:card_uuid>/", views_paper.card, name="card"),
]
