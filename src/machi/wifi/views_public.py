"""The Wi-Fi room's public pages: open data (no personal data, no disaster SSID)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from machi.core import japanese
from machi.core import selectors as core_selectors
from machi.wifi import opendata


@require_GET
def dataset_07(request: HttpRequest) -> HttpResponse:
    """07 公衆無線LANアクセスポイント一覧: ?layout=current (default) or old; UTF-8 with BOM."""
    layout = "old" if request.GET.get("layout") == "old" else "current"
    municipality = core_selectors.municipality_current()
    code = municipality.lgcode if municipality is not None else "000000"
    response = HttpResponse(
        japanese.excel_csv(opendata.dataset_rows(layout)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{code}_public_wireless_lan.csv"'
    response["Cache-Control"] = "public, max-age=300"
    return response
