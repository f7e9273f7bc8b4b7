"""``machi procedures_testca [--dir DIR]``: a demo PKI for JPKI-style signatures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from machi.procedures import jpki_testca


class Command(BaseCommand):
    help = (
        "For demos and tests only, never production: write a throw-away certification "
        "authority (anchors.pem), its CRL (crl/ca.crl) and two residents' signing keys and "
        "certificates (resident-1 valid, resident-2 revoked). Sign with procedures_sign."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dir",
            default=None,
            help="where to write (default: the folder of MACHI_JPKI_TRUST_ANCHORS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchors_setting = str(settings.MACHI_JPKI_TRUST_ANCHORS or "")
        if options["dir"]:
            folder = Path(options["dir"])
        elif anchors_setting:
            folder = Path(anchors_setting).parent
        else:
            raise CommandError("MACHI_JPKI_TRUST_ANCHORS is not set: give --dir")
        written = jpki_testca.write_demo_pki(folder)
        self.stdout.write(f"Demo PKI (not for production) in {folder}:")
        self.stdout.write(f"  trust anchor  {written['anchors']}  ({written['ca']})")
        self.stdout.write(
            f"  CRL           {written['crl']}  (current until "
            f"{written['crl_next_update']:%Y-%m-%d}; run again to renew)"
        )
        for resident in written["residents"]:
            state = "revoked" if resident["revoked"] else "valid"
            self.stdout.write(
                f"  resident      {resident['cert']}  {resident['name']}, "
                f"serial {resident['serial_hex']} ({state})"
            )
            self.stdout.write(f"                {resident['key']}")
        crl_setting = str(settings.MACHI_JPKI_CRL_DIR or "")
        if anchors_setting and Path(anchors_setting) != Path(written["anchors"]):
            self.stdout.write(f"Note: MACHI_JPKI_TRUST_ANCHORS is {anchors_setting}")
        if crl_setting and Path(crl_setting) != Path(written["crl"]).parent:
            self.stdout.write(f"Note: MACHI_JPKI_CRL_DIR is {crl_setting}")
