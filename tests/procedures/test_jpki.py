"""JPKI-style signatures: a resident signs the application with a certificate, and Machi takes
the signature only when it covers these exact bytes, leads to a trusted authority, and no
certificate on the way has expired, been revoked, or gone unchecked for want of a current CRL.
The certificate's serial number becomes the applicant's identifier."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

from machi.procedures import jpki_testca as testca
from machi.procedures.identity import jpki
from machi.procedures.identity.base import Identity, signing_payload

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
PAYLOAD = signing_payload(
    procedure="juminhyo",
    answers={"copies": 1, "scope": "self", "purpose": "勤務先に提出"},
    delivery="mail",
)
ADDRESS = "埼玉県戸田市上戸田一丁目18番1号"


@dataclass(frozen=True)
class Pki:
    root: testca.Authority
    intermediate: testca.Authority
    resident: testca.Resident  # issued by the root, serial 1234ABCD
    resident_key: testca.PrivateKey
    other_key: testca.PrivateKey  # RSA, belongs to no certificate

    @property
    def anchors(self) -> list[x509.Certificate]:
        return [self.root.cert]

    def crls(self, *revoked: int) -> list[x509.CertificateRevocationList]:
        return [testca.make_crl(self.root, revoked), testca.make_crl(self.intermediate, revoked)]


@pytest.fixture(scope="module")
def pki() -> Pki:
    # RSA keys cost ~50 ms each: three for the module, reused by every certificate below.
    root = testca.make_ca("Test Root CA")
    intermediate = testca.make_ca("Test Intermediate CA", parent=root, key=testca.new_key("ec"))
    resident_key = testca.new_key("rsa")
    resident = testca.make_resident(
        root, name="Toda Taro", address=ADDRESS, serial=0x1234ABCD, key=resident_key
    )
    return Pki(root, intermediate, resident, resident_key, testca.new_key("rsa"))


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def refusal(
    signature: bytes, pki: Pki, *, data: bytes = PAYLOAD, **kwargs: Any
) -> jpki.SignatureError:
    options: dict[str, Any] = {"anchors": pki.anchors, "crls": pki.crls(), **kwargs}
    with pytest.raises(jpki.SignatureError) as caught:
        jpki.verify(data, signature, **options)
    assert caught.value.field == "signature"
    return caught.value


# --- Accepted -------------------------------------------------------------------------------------


def test_a_good_signature_names_the_resident_by_serial_name_and_address(pki: Pki) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)

    signer = jpki.verify(PAYLOAD, signature, anchors=pki.anchors, crls=pki.crls())

    assert signer.serial_hex == "1234ABCD"
    assert signer.subject_name == "Toda Taro"
    assert signer.address == ADDRESS
    assert signer.issuer == "CN=Test Root CA,O=Machi test PKI,C=JP"
    assert signer.not_after == pki.resident.cert.not_valid_after_utc
    assert signer.certificate == pki.resident.cert


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"attributes": False}, id="no-signed-attributes"),
        pytest.param({"pss": True}, id="rsa-pss"),
        pytest.param({"pss": True, "attributes": False}, id="rsa-pss-no-attributes"),
        pytest.param({"hash_algorithm": hashes.SHA384()}, id="sha384"),
        pytest.param({"hash_algorithm": hashes.SHA512(), "attributes": False}, id="sha512"),
    ],
)
def test_rsa_signatures_in_every_accepted_form(pki: Pki, options: dict[str, Any]) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key, **options)
    signer = jpki.verify(PAYLOAD, signature, anchors=pki.anchors, crls=pki.crls())
    assert signer.serial_hex == "1234ABCD"


@pytest.mark.parametrize("attributes", [True, False])
def test_an_ecdsa_resident_under_an_intermediate_carried_in_the_signature(
    pki: Pki, attributes: bool
) -> None:
    resident = testca.make_resident(
        pki.intermediate, name="Toda Hanako", address="", serial=0xBEEF, key_type="ec"
    )
    signature = testca.sign_detached(
        PAYLOAD,
        resident.cert,
        resident.key,
        extra_certs=[pki.intermediate.cert],
        attributes=attributes,
        hash_algorithm=hashes.SHA384(),
    )

    signer = jpki.verify(PAYLOAD, signature, anchors=pki.anchors, crls=pki.crls())

    assert (signer.serial_hex, signer.subject_name, signer.address) == ("BEEF", "Toda Hanako", "")
    assert signer.issuer.startswith("CN=Test Intermediate CA")


def test_the_signature_may_come_as_base64_or_pem_text(pki: Pki) -> None:
    der = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)
    encoded = base64.encodebytes(der)  # wrapped lines, as mail and forms carry it
    armoured = b"-----BEGIN PKCS7-----\n" + encoded + b"-----END PKCS7-----\n"

    for text in (encoded, base64.b64encode(der), armoured, b"\n" + armoured):
        signer = jpki.verify(PAYLOAD, text, anchors=pki.anchors, crls=pki.crls())
        assert signer.serial_hex == "1234ABCD"


# --- The signature itself -------------------------------------------------------------------------


@pytest.mark.parametrize("attributes", [True, False])
def test_a_changed_application_is_refused(pki: Pki, attributes: bool) -> None:
    signature = testca.sign_detached(
        PAYLOAD, pki.resident.cert, pki.resident.key, attributes=attributes
    )
    tampered = PAYLOAD.replace(b'"copies":1', b'"copies":9')

    error = refusal(signature, pki, data=tampered)

    assert error.code == "mismatch"
    assert str(error) == "the signature does not match the application"


def test_a_signature_by_another_key_than_the_certificates_is_refused(pki: Pki) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.other_key)
    assert refusal(signature, pki).code == "wrong_key"
    bare = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.other_key, attributes=False)
    assert refusal(bare, pki).code == "mismatch"


def test_a_signature_without_the_signers_certificate_is_refused(pki: Pki) -> None:
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(PAYLOAD)
        .add_signer(pki.resident.cert, pki.resident.key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [
                pkcs7.PKCS7Options.DetachedSignature,
                pkcs7.PKCS7Options.Binary,
                pkcs7.PKCS7Options.NoCerts,
            ],
        )
    )
    assert refusal(signature, pki).code == "no_certificate"


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a signature",
        b"\x30\x03\x02\x01\x01",  # DER, but an INTEGER in a SEQUENCE
        base64.b64encode(b"\x30\x82\xff\xff broken"),
        b"-----BEGIN PKCS7-----\n!!!!\n-----END PKCS7-----\n",
        b"\x30" * 5000,
    ],
)
def test_garbage_is_not_a_signature(pki: Pki, garbage: bytes) -> None:
    error = refusal(garbage, pki)
    assert error.code == "format"
    assert str(error) == "this is not a CMS signature (DER or base64)"


def test_a_certificate_not_meant_for_signing_is_refused(pki: Pki) -> None:
    encipherment = testca.make_resident(
        pki.root, name="Toda Taro", key=pki.resident_key, key_usage=("key_encipherment",)
    )
    signature = testca.sign_detached(PAYLOAD, encipherment.cert, pki.resident_key)
    assert refusal(signature, pki).code == "key_usage"


# --- The path to a trusted authority --------------------------------------------------------------


def test_a_certificate_from_an_untrusted_authority_is_refused(pki: Pki) -> None:
    stranger = testca.make_ca("Test Root CA", key=testca.new_key("ec"))  # same name, other key
    resident = testca.make_resident(stranger, name="Mallory", key=pki.resident_key)
    signature = testca.sign_detached(PAYLOAD, resident.cert, pki.resident_key)

    error = refusal(signature, pki)

    assert error.code == "untrusted"
    assert str(error) == "the certificate was not issued by a trusted authority"


def test_an_intermediate_left_out_of_the_signature_breaks_the_path(pki: Pki) -> None:
    resident = testca.make_resident(pki.intermediate, name="Toda Hanako", key=pki.resident_key)
    signature = testca.sign_detached(PAYLOAD, resident.cert, pki.resident_key)
    assert refusal(signature, pki).code == "untrusted"


def test_an_issuer_that_is_not_a_ca_is_refused(pki: Pki) -> None:
    impostor = testca.make_ca("Not A CA", parent=pki.root, key=testca.new_key("ec"), is_ca=False)
    resident = testca.make_resident(impostor, name="Toda Taro", key=pki.resident_key)
    signature = testca.sign_detached(
        PAYLOAD, resident.cert, pki.resident_key, extra_certs=[impostor.cert]
    )

    error = refusal(signature, pki, crls=[*pki.crls(), testca.make_crl(impostor)])

    assert error.code == "not_ca"
    assert str(error) == "Not A CA is not a certification authority"


def test_a_path_longer_than_the_roots_path_length_is_refused(pki: Pki) -> None:
    root = testca.make_ca("Short Root", key=testca.new_key("ec"), path_length=0)
    intermediate = testca.make_ca("Too Deep", parent=root, key=testca.new_key("ec"))
    resident = testca.make_resident(intermediate, name="Toda Taro", key=pki.resident_key)
    signature = testca.sign_detached(
        PAYLOAD, resident.cert, pki.resident_key, extra_certs=[intermediate.cert]
    )
    crls = [testca.make_crl(root), testca.make_crl(intermediate)]

    error = refusal(signature, pki, anchors=[root.cert], crls=crls)

    assert error.code == "not_ca"
    assert "Short Root" in str(error)


# --- Validity periods -----------------------------------------------------------------------------


def test_an_expired_certificate_is_refused_with_its_date(pki: Pki) -> None:
    expired = testca.make_resident(
        pki.root,
        name="Toda Taro",
        key=pki.resident_key,
        not_before=dt.datetime(2021, 2, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2026, 1, 31, 14, 59, 59, tzinfo=dt.UTC),  # 23:59:59 JST
    )
    signature = testca.sign_detached(PAYLOAD, expired.cert, pki.resident_key)

    error = refusal(signature, pki, at=dt.datetime(2026, 2, 2, tzinfo=dt.UTC))

    assert error.code == "expired"
    assert str(error) == "the certificate expired on 2026-01-31"


def test_a_certificate_not_yet_valid_is_refused(pki: Pki) -> None:
    early = testca.make_resident(
        pki.root, name="Toda Taro", key=pki.resident_key, not_before=NOW + 10 * DAY
    )
    signature = testca.sign_detached(PAYLOAD, early.cert, pki.resident_key)
    assert refusal(signature, pki).code == "not_yet_valid"


def test_an_expired_authority_is_refused(pki: Pki) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)
    later = pki.root.cert.not_valid_after_utc + DAY

    error = refusal(signature, pki, at=later)

    # The resident's five years end first: that is what the resident hears about.
    assert error.code == "expired"
    assert str(error).startswith("the certificate expired on")


# --- Revocation -----------------------------------------------------------------------------------


def test_a_revoked_certificate_is_refused(pki: Pki) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)

    error = refusal(signature, pki, crls=pki.crls(0x1234ABCD))

    assert error.code == "revoked"
    assert str(error) == "the certificate has been revoked"


def test_a_revoked_intermediate_is_refused(pki: Pki) -> None:
    resident = testca.make_resident(pki.intermediate, name="Toda Hanako", key=pki.resident_key)
    signature = testca.sign_detached(
        PAYLOAD, resident.cert, pki.resident_key, extra_certs=[pki.intermediate.cert]
    )
    crls = [
        testca.make_crl(pki.root, [pki.intermediate.cert.serial_number]),
        testca.make_crl(pki.intermediate),
    ]

    error = refusal(signature, pki, crls=crls)

    assert error.code == "revoked"
    assert "Test Intermediate CA" in str(error)


def test_the_newest_current_crl_decides(pki: Pki) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)
    clean = testca.make_crl(pki.root, [], this_update=NOW - DAY, next_update=NOW + DAY)
    listed = testca.make_crl(pki.root, [0x1234ABCD], this_update=NOW - dt.timedelta(hours=1))
    hold_lifted = testca.make_crl(pki.root, [], this_update=NOW - dt.timedelta(minutes=1))

    assert refusal(signature, pki, crls=[listed, clean]).code == "revoked"
    signer = jpki.verify(PAYLOAD, signature, anchors=pki.anchors, crls=[hold_lifted, listed])
    assert signer.serial_hex == "1234ABCD"


@pytest.mark.parametrize(
    "crl_of",
    [
        pytest.param(lambda pki: [], id="missing"),
        pytest.param(
            lambda pki: [
                testca.make_crl(pki.root, this_update=NOW - 9 * DAY, next_update=NOW - DAY)
            ],
            id="stale",
        ),
        pytest.param(
            lambda pki: [testca.make_crl(pki.root, this_update=NOW + DAY)], id="not-yet-issued"
        ),
        pytest.param(
            lambda pki: [testca.make_crl(testca.Authority(pki.root.cert, pki.other_key))],
            id="signed-by-another-key",
        ),
        pytest.param(lambda pki: [testca.make_crl(pki.intermediate)], id="another-issuers"),
    ],
)
def test_without_a_current_crl_from_the_issuer_revocation_cannot_be_checked(
    pki: Pki, crl_of: Any
) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)

    error = refusal(signature, pki, crls=crl_of(pki))

    assert error.code == "no_crl"
    assert str(error) == (
        "revocation cannot be checked: no current CRL for CN=Test Root CA,O=Machi test PKI,C=JP"
    )


def test_an_intermediate_needs_its_own_crl_from_the_root(pki: Pki) -> None:
    resident = testca.make_resident(pki.intermediate, name="Toda Hanako", key=pki.resident_key)
    signature = testca.sign_detached(
        PAYLOAD, resident.cert, pki.resident_key, extra_certs=[pki.intermediate.cert]
    )

    error = refusal(signature, pki, crls=[testca.make_crl(pki.intermediate)])

    assert error.code == "no_crl"
    assert "CN=Test Root CA" in str(error)


# --- From settings --------------------------------------------------------------------------------


def write_trust(folder: Path, pki: Pki, *revoked: int, pem: bool = False) -> dict[str, str]:
    (folder / "crl").mkdir(parents=True, exist_ok=True)
    (folder / "anchors.pem").write_bytes(testca.cert_pem(pki.root.cert))
    crl = testca.make_crl(pki.root, revoked)
    encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    (folder / "crl" / "root.crl").write_bytes(crl.public_bytes(encoding))
    return {
        "MACHI_JPKI_TRUST_ANCHORS": str(folder / "anchors.pem"),
        "MACHI_JPKI_CRL_DIR": str(folder / "crl"),
    }


@pytest.mark.parametrize("pem", [False, True])
def test_verify_application_reads_anchors_and_crls_from_settings(
    pki: Pki, tmp_path: Path, pem: bool
) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)

    with override_settings(**write_trust(tmp_path, pki, pem=pem)):
        identity = jpki.verify_application(PAYLOAD, signature)

    assert identity == Identity(
        level="jpki", identifier="1234ABCD", name="Toda Taro", address=ADDRESS
    )


def test_a_new_crl_file_is_read_on_the_next_call_and_not_before(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)
    loads: list[Path] = []
    real_load = jpki._load_crls

    def counting_load(path: Path) -> list[x509.CertificateRevocationList]:
        loads.append(path)
        return real_load(path)

    monkeypatch.setattr(jpki, "_load_crls", counting_load)

    with override_settings(**write_trust(tmp_path, pki)):
        jpki.verify_application(PAYLOAD, signature)
        jpki.verify_application(PAYLOAD, signature)
        assert len(loads) == 1  # parsed once, then only a stat per call

        crl_file = tmp_path / "crl" / "root.crl"
        revoking = testca.make_crl(pki.root, [0x1234ABCD])
        crl_file.write_bytes(revoking.public_bytes(serialization.Encoding.DER))
        later = crl_file.stat().st_mtime + 2
        os.utime(crl_file, (later, later))

        with pytest.raises(jpki.SignatureError) as caught:
            jpki.verify_application(PAYLOAD, signature)
    assert caught.value.code == "revoked"
    assert len(loads) == 2


@pytest.mark.parametrize("anchors", ["", "missing.pem", "empty.pem"])
def test_without_trust_anchors_nothing_can_be_checked(
    pki: Pki, tmp_path: Path, anchors: str
) -> None:
    (tmp_path / "empty.pem").write_bytes(b"")
    signature = testca.sign_detached(PAYLOAD, pki.resident.cert, pki.resident.key)
    setting = str(tmp_path / anchors) if anchors else ""

    with (
        override_settings(MACHI_JPKI_TRUST_ANCHORS=setting, MACHI_JPKI_CRL_DIR=str(tmp_path)),
        pytest.raises(jpki.SignatureError) as caught,
    ):
        jpki.verify_application(PAYLOAD, signature)

    assert caught.value.code == "no_anchors"
    assert str(caught.value) == "signatures cannot be checked: no trust anchors configured"


# --- The demo commands ----------------------------------------------------------------------------


def test_the_demo_pki_signs_and_verifies_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "jpki"
    settings_for_demo = {
        "MACHI_JPKI_TRUST_ANCHORS": str(folder / "anchors.pem"),
        "MACHI_JPKI_CRL_DIR": str(folder / "crl"),
    }
    application = tmp_path / "application.json"
    application.write_bytes(PAYLOAD)

    with override_settings(**settings_for_demo):
        out = io.StringIO()
        call_command("procedures_testca", stdout=out)
        assert "resident-1.cert.pem" in out.getvalue()
        assert "(revoked)" in out.getvalue()
        assert (folder / "crl" / "ca.crl").exists()
        assert oct((folder / "resident-1.key.pem").stat().st_mode & 0o777) == "0o600"

        call_command(
            "procedures_sign",
            str(application),
            "--cert",
            str(folder / "resident-1.cert.pem"),
            "--key",
            str(folder / "resident-1.key.pem"),
            stdout=io.StringIO(),
        )
        identity = jpki.verify_application(
            PAYLOAD, (tmp_path / "application.json.p7s").read_bytes()
        )
        assert identity.level == "jpki"
        assert identity.name == testca.DEMO_RESIDENTS[0][0]
        assert identity.address == testca.DEMO_RESIDENTS[0][1]

        revoked_signature = tmp_path / "revoked.p7s"
        call_command(
            "procedures_sign",
            str(application),
            cert=str(folder / "resident-2.cert.pem"),
            key=str(folder / "resident-2.key.pem"),
            output=str(revoked_signature),
            stdout=io.StringIO(),
        )
        with pytest.raises(jpki.SignatureError) as caught:
            jpki.verify_application(PAYLOAD, revoked_signature.read_bytes())
    assert caught.value.code == "revoked"


def test_procedures_testca_writes_where_it_is_told(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("procedures_testca", dir=str(tmp_path), stdout=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "anchors.pem",
        "crl",
        "resident-1.cert.pem",
        "resident-1.key.pem",
        "resident-2.cert.pem",
        "resident-2.key.pem",
    ]
    assert "not for production" in out.getvalue()
