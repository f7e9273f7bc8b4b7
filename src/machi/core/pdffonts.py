"""The Japanese font of the PDFs Machi prints (罹災証明書, cover letters, address labels).

A subset of an IPA font (IPAmj明朝 / IPA明朝, free to embed and redistribute) is embedded, so a
document prints the same everywhere. ``MACHI_CERTIFICATE_FONT`` names the font file when it is
not where Debian's ``fonts-ipafont-mincho`` puts it. Without the file, a CID font the viewer
supplies (HeiseiMin-W3) is used: not embedded, but still readable Japanese.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings

FONT_PATHS = (
    "/usr/share/fonts/opentype/ipafont-mincho/ipam.ttf",
    "/usr/share/fonts/truetype/ipafont-mincho/ipam.ttf",
)
EMBEDDED = "MachiCertificate"
FALLBACK = "HeiseiMin-W3"


@cache
def font_name() -> str:
    """The name to give ``canvas.setFont``: the IPA font registered once per process."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    configured = str(getattr(settings, "MACHI_CERTIFICATE_FONT", "") or "")
    for path in (configured, *FONT_PATHS):
        if path and Path(path).exists():
            pdfmetrics.registerFont(TTFont(EMBEDDED, path))
            return EMBEDDED
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK))  # not embedded: the viewer's font
    return FALLBACK
