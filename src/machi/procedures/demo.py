"""The demo's online procedures: the catalogue, a test PKI to sign applications with (as a
My Number card would), and loopback fakes of an OpenID provider and a card gateway."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.conf import settings

# What settings.py gives in demo mode (`machi demo` sets MACHI_DEMO=1 only for the processes
# it starts, so the command itself reads the plain defaults).
DEMO_OIDC_CLIENT = "machi-demo"
DEMO_CARD_KEY = "demo-card-key"
DEMO_CARD_SECRET = "demo-card-webhook-secret"  # noqa: S105 - the demo's fake, not a secret


def load_demo_pki(**_: Any) -> str:
    """A test certificate authority and two residents' certificates (the second revoked), so
    a JPKI-level procedure can be tried with `machi procedures_sign`."""
    from machi.procedures import jpki_testca

    anchors = Path(settings.MACHI_JPKI_TRUST_ANCHORS)
    folder = anchors.parent
    if not anchors.exists():
        jpki_testca.write_demo_pki(folder)
    key, cert = folder / "resident-1.key.pem", folder / "resident-1.cert.pem"
    return (
        f"procedures: a test PKI in {folder}; sign a downloaded application.json with\n"
        f"    machi procedures_sign --cert {cert} --key {key} application.json"
    )


def demo_processes(url: str) -> dict[str, list[str]]:
    """The loopback OpenID provider (デジタル認証アプリ's place) and card gateway."""
    base = url.rstrip("/")
    return {
        "oidc-provider": [
            sys.executable,
            "-m",
            "machi.procedures.peers.oidc_provider",
            "--port",
            str(settings.MACHI_OIDC_PORT),
            "--client-id",
            settings.MACHI_OIDC_CLIENT_ID or DEMO_OIDC_CLIENT,
            "--client-jwks-url",
            f"{base}/procedures/id/jwks.json",
            "--redirect-uri",
            f"{base}/procedures/id/callback/",
        ],
        "card-gateway": [
            sys.executable,
            "-m",
            "machi.procedures.peers.card_gateway",
            "--port",
            str(settings.MACHI_CARD_PORT),
            "--api-key",
            settings.MACHI_CARD_API_KEY or DEMO_CARD_KEY,
            "--webhook-secret",
            settings.MACHI_CARD_WEBHOOK_SECRET or DEMO_CARD_SECRET,
            "--webhook-url",
            f"{base}/procedures/pay/webhook/",
        ],
    }
