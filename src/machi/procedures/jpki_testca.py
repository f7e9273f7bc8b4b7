"""A small test PKI for JPKI-style signatures: certification authorities, residents' signing
certificates (like the My Number card's 署名用電子証明書), CRLs, and detached CMS signatures.

For demos and tests only, never production: keys are written unencrypted, and nothing here
is a real authority. ``write_demo_pki`` lays out what ``machi procedures_testca`` writes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
ORGANISATION = "Machi test PKI"
# A signing key usage as JPKI's: digitalSignature and nonRepudiation (content_commitment).
SIGNING_USAGE = ("digital_signature", "content_commitment")
KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True)
class Authority:
    """A certification authority: its certificate and the key that signs with it."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def name(self) -> str:
        return str(self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@dataclass(frozen=True)
class Resident:
    """A resident's signing certificate and private key (what the card holds)."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def serial(self) -> int:
        return self.cert.serial_number


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_key(key_type: Literal["rsa", "ec"] = "rsa") -> PrivateKey:
    """RSA 2048 (about 50 ms to make) or ECDSA P-256."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _usage(names: Iterable[str]) -> x509.KeyUsage:
    wanted = set(names)
    unknown = wanted - set(KEY_USAGES)
    if unknown:
        raise ValueError(f"unknown key usage: {', '.join(sorted(unknown))}")
    flags = {name: name in wanted for name in KEY_USAGES}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


def _key_ids(
    builder: x509.CertificateBuilder, key: PrivateKey, issuer: Authority | None
) -> x509.CertificateBuilder:
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    )
    issuer_key = (issuer.key if issuer else key).public_key()
    return builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
    )


def make_ca(
    name: str,
    *,
    key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    parent: Authority | None = None,
    is_ca: bool = True,
    path_length: int | None = None,
) -> Authority:
    """A root CA (self-signed) or, with ``parent``, an intermediate. ``is_ca=False`` makes a
    certificate that only looks like one (no CA basicConstraints), for tests."""
    key = key or new_key()
    start = not_before or _now() - dt.timedelta(days=1)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    usage = ("key_cert_sign", "crl_sign") if is_ca else ("digital_signature",)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(parent.cert.subject if parent else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after or start + dt.timedelta(days=3650))
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None),
            critical=True,
        )
        .add_extension(_usage(usage), critical=True)
    )
    builder = _key_ids(builder, key, parent)
    return Authority(cert=builder.sign((parent.key if parent else key), hashes.SHA256()), key=key)


def make_resident(
    ca: Authority,
    *,
    name: str,
    address: str = "",
    serial: int | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_type: Literal["rsa", "ec"] = "rsa",
    key: PrivateKey | None = None,
    key_usage: Sequence[str] = SIGNING_USAGE,
) -> Resident:
    """A resident's signing certificate issued by ``ca``: CN and postalAddress in the subject,
    five years by default like the card's. Pass ``key`` to reuse one (key making is slow)."""
    key = key or new_key(key_type)
    start = not_before or _now() - dt.timedelta(days=1)
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ]
    if address:
        attributes.append(x509.NameAttribute(NameOID.POSTAL_ADDRESS, address))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after or start + dt.timedelta(days=5 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(key_usage), critical=True)
    )
    builder = _key_ids(builder, key, ca)
    return Resident(cert=builder.sign(ca.key, hashes.SHA256()), key=key)


def make_crl(
    ca: Authority,
    revoked_serials: Iterable[int] = (),
    *,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
) -> x509.CertificateRevocationList:
    """A CRL of ``ca`` listing ``revoked_serials``; current for a day by default."""
    start = this_update or _now() - dt.timedelta(hours=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(start)
        .next_update(next_update or start + dt.timedelta(days=1))
        .add_extension(x509.CRLNumber(int(start.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(start).build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def sign_detached(
    data: bytes,
    cert: x509.Certificate,
    key: PrivateKey,
    *,
    extra_certs: Sequence[x509.Certificate] = (),
    attributes: bool = True,
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
    pss: bool = False,
) -> bytes:
    """A detached CMS signature (DER) of ``data``, as the card's signing app makes one."""
    algorithm = hash_algorithm or hashes.SHA256()
    rsa_padding: padding.PSS | None = None
    if pss:
        rsa_padding = padding.PSS(
            mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH
        )
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(cert, key, algorithm, rsa_padding=rsa_padding)
    )
    for extra in extra_certs:
        builder = builder.add_certificate(extra)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    if not attributes:
        options.append(pkcs7.PKCS7Options.NoAttributes)
    return builder.sign(serialization.Encoding.DER, options)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


DEMO_RESIDENTS = (
    ("デモ 太郎", "東京都架空市中央一丁目1番1号", False),
    ("デモ 花子", "東京都架空市中央一丁目1番2号", True),
)


def write_demo_pki(folder: Path | str) -> dict[str, Any]:
    """A demo CA, its CRL and two residents (the first valid, the second revoked) in
    ``folder``: ``anchors.pem``, ``crl/ca.crl`` (DER), ``resident-<n>.key.pem`` and
    ``resident-<n>.cert.pem``. The CRL is current for a year; write again to renew it."""
    folder = Path(folder)
    (folder / "crl").mkdir(parents=True, exist_ok=True)
    start = _now() - dt.timedelta(days=1)
    ca = make_ca("Machi Demo JPKI CA", not_before=start)
    residents = []
    revoked_serials = []
    for number, (name, address, revoked) in enumerate(DEMO_RESIDENTS, start=1):
        resident = make_resident(ca, name=name, address=address, not_before=start)
        key_path = folder / f"resident-{number}.key.pem"
        cert_path = folder / f"resident-{number}.cert.pem"
        _write_private(key_path, key_pem(resident.key))
        cert_path.write_bytes(cert_pem(resident.cert))
        if revoked:
            revoked_serials.append(resident.serial)
        residents.append(
            {
                "name": name,
                "address": address,
                "serial_hex": f"{resident.serial:X}",
                "revoked": revoked,
                "key": key_path,
                "cert": cert_path,
            }
        )
    crl = make_crl(
        ca, revoked_serials, this_update=start, next_update=start + dt.timedelta(days=366)
    )
    anchors_path = folder / "anchors.pem"
    crl_path = folder / "crl" / "ca.crl"
    anchors_path.write_bytes(cert_pem(ca.cert))
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    return {
        "anchors": anchors_path,
        "crl": crl_path,
        "crl_next_update": crl.next_update_utc,
        "ca": ca.name,
        "residents": residents,
    }
