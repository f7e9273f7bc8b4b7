"""``machi procedures_sign --cert C --key K FILE [-o OUT]``: a detached CMS signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management.base import BaseCommand, CommandError

from machi.procedures import jpki_testca


class Command(BaseCommand):
    help = (
        "For demos and tests: sign FILE (e.g. an application's signing payload) with a "
        "certificate and its private key, as the My Number card's signing app would, and "
        "write the detached CMS signature as DER (FILE.p7s unless -o)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="the bytes to sign")
        parser.add_argument("--cert", required=True, help="the signer's certificate (PEM)")
        parser.add_argument("--key", required=True, help="its private key (PEM, unencrypted)")
        parser.add_argument("-o", "--output", default=None, help="where to write the .p7s")

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["file"])
        output = Path(options["output"] or f"{source}.p7s")
        try:
            data = source.read_bytes()
            cert = x509.load_pem_x509_certificate(Path(options["cert"]).read_bytes())
            key = serialization.load_pem_private_key(
                Path(options["key"]).read_bytes(), password=None
            )
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        except (ValueError, TypeError) as exc:
            raise CommandError(f"cannot read the certificate or key: {exc}") from exc
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise CommandError("the key must be RSA or ECDSA")
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
            raise CommandError("the key does not belong to the certificate")
        signature = jpki_testca.sign_detached(data, cert, key)
        output.write_bytes(signature)
        self.stdout.write(
            f"wrote {output} ({len(signature)} bytes), signed by serial {cert.serial_number:X}"
        )
