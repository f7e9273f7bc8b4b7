"""JPKI-style signatures: a resident signs the application with a certificate, as with the
My Number card's 署名用電子証明書, and the signature is the proof of who applied.

The signature is CMS (PKCS#7) SignedData, detached, over the bytes of
``base.signing_payload``. A signature is accepted when, at the moment of checking:

- it covers exactly those bytes (the ``messageDigest`` attribute, then the signature over the
  signed attributes; or the signature over the bytes themselves when there are none);
- the signer's certificate is for signatures (keyUsage digitalSignature or nonRepudiation);
- a path leads from it to a configured trust anchor (intermediates may ride in the CMS),
  every issuer on it a CA (basicConstraints), every certificate within its validity period;
- for every certificate below the anchor, a current CRL (thisUpdate ≤ now ≤ nextUpdate)
  signed by its issuer does not list it. No current CRL is a refusal, never a pass: a
  revoked card must not sign because a file went stale.

The applicant's identifier is the certificate's serial number (hexadecimal, upper case).
``verify`` takes the anchors and CRLs as arguments; ``verify_application`` reads them from
settings (``MACHI_JPKI_TRUST_ANCHORS``, ``MACHI_JPKI_CRL_DIR``), parsed once per process and
reread when a file changes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import cms, core, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from machi.procedures.identity.base import Identity
from machi.procedures.services import ProcedureError

logger = logging.getLogger(__name__)

# Issuers above the signer's certificate, the anchor included (JPKI itself needs one).
MAX_DEPTH = 4
# A signature with its certificates is a few kilobytes; anything far larger is not one.
MAX_SIGNATURE_BYTES = 256 * 1024
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class SignatureError(ProcedureError):
    """A signature Machi refuses. ``code`` is stable (for the API and tests); the message is
    for the resident, translated."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, field="signature")
        self.code = code


@dataclass(frozen=True)
class Signer:
    serial_hex: str  # the certificate's serial number, the applicant's identifier
    subject_name: str  # CN
    address: str  # postalAddress or streetAddress of the subject, when it has one
    issuer: str  # RFC 4514
    not_after: dt.datetime
    certificate: x509.Certificate


# --- Public interface -----------------------------------------------------------------------------


def verify(
    data: bytes,
    signature: bytes,
    *,
    anchors: list[x509.Certificate],
    crls: list[x509.CertificateRevocationList],
    at: dt.datetime | None = None,
) -> Signer:
    """Check a detached CMS ``signature`` (DER, base64 or PEM) over ``data``; the signer, or
    a SignatureError saying why not."""
    moment = at or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("at must be timezone-aware")
    trust = _trust_for(anchors, crls)
    parsed = _parse(_decode(signature))
    signer = parsed.signer
    _check_signature(parsed, data)
    _check_key_usage(signer)
    path = _build_path(signer, parsed.others, trust)
    _check_path(path, moment)
    _check_revocation(path, trust, moment)
    return Signer(
        serial_hex=f"{signer.serial_number:X}",
        subject_name=_subject_text(parsed.signer_asn1, ("2.5.4.3",)),
        # postalAddress (2.5.4.16) first, streetAddress (2.5.4.9) otherwise.
        address=_subject_text(parsed.signer_asn1, ("2.5.4.16", "2.5.4.9")),
        issuer=signer.issuer.rfc4514_string(),
        not_after=signer.not_valid_after_utc,
        certificate=signer,
    )


def verify_application(data: bytes, signature: bytes) -> Identity:
    """The resident who signed the application, checked against the configured anchors and
    CRLs: ``Identity(level="jpki", identifier=<serial>, name=<CN>, address=...)``."""
    anchors, crls = _configured()
    if not anchors:
        raise SignatureError(
            _("signatures cannot be checked: no trust anchors configured"), code="no_anchors"
        )
    signer = verify(data, signature, anchors=anchors, crls=crls)
    return Identity(
        level="jpki",
        identifier=signer.serial_hex,
        name=signer.subject_name,
        address=signer.address,
    )


# --- Reading the signature ------------------------------------------------------------------------


def _not_cms() -> SignatureError:
    return SignatureError(_("this is not a CMS signature (DER or base64)"), code="format")


def _decode(signature: bytes | str) -> bytes:
    """DER from DER, PEM (any label) or base64 text."""
    raw = signature.encode("ascii", "replace") if isinstance(signature, str) else signature
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise SignatureError(_("the signature is too large"), code="format")
    if raw[:1] == b"\x30":
        return raw
    text = raw.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            _label, _headers, der = pem.unarmor(text)
            return bytes(der)
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise _not_cms() from exc


@dataclass(frozen=True)
class _Parsed:
    signer: x509.Certificate
    signer_asn1: Any  # asn1crypto.x509.Certificate: names cryptography cannot read
    others: list[x509.Certificate]
    digest_name: str
    signature_algorithm: Any  # asn1crypto.algos.SignedDigestAlgorithm
    signature: bytes
    signed_attrs: bytes | None  # re-encoded as a SET, as signed
    message_digest: bytes | None
    content: bytes | None  # present when the signature is not detached


def _parse(der: bytes) -> _Parsed:
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise _not_cms()
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
        if len(signer_infos) != 1:
            raise SignatureError(_("the signature must have exactly one signer"), code="signers")
        signer_info = signer_infos[0]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "data":
            raise _not_cms()
        content = encap["content"].native if encap["content"].native is not None else None
        choices = signed["certificates"]
        carried = [
            c.chosen
            for c in ([] if isinstance(choices, core.Void) else choices)
            if isinstance(c.chosen, asn1_x509.Certificate)
        ]
        index = _signer_index(signer_info["sid"], carried)
        signed_attrs, message_digest = _signed_attributes(signer_info)
        digest_name = signer_info["digest_algorithm"]["algorithm"].native
        certificates = [x509.load_der_x509_certificate(c.dump()) for c in carried]
        return _Parsed(
            signer=certificates[index],
            signer_asn1=carried[index],
            others=certificates[:index] + certificates[index + 1 :],
            digest_name=digest_name,
            signature_algorithm=signer_info["signature_algorithm"],
            signature=bytes(signer_info["signature"].native),
            signed_attrs=signed_attrs,
            message_digest=message_digest,
            content=bytes(content) if content is not None else None,
        )
    except SignatureError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise _not_cms() from exc


def _signer_index(sid: Any, carried: Sequence[Any]) -> int:
    """Which carried certificate the SignerInfo names (issuer and serial, or key identifier)."""
    for index, cert in enumerate(carried):
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if cert.serial_number == wanted["serial_number"].native and (
                # The same bytes, or the same name differently encoded (slower to compare).
                cert.issuer.dump() == wanted["issuer"].dump()
                or cert.issuer.hashable == wanted["issuer"].hashable
            ):
                return index
        elif sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return index
    raise SignatureError(
        _("the signature does not carry the signer's certificate"), code="no_certificate"
    )


def _signed_attributes(signer_info: Any) -> tuple[bytes | None, bytes | None]:
    attrs = signer_info["signed_attrs"]
    if isinstance(attrs, core.Void):
        return None, None
    found: dict[str, list[Any]] = {}
    for attr in attrs:
        found.setdefault(attr["type"].native, []).append(attr["values"])
    # RFC 5652 §5.3: both present, once each, with a single value.
    digests, types = found.get("message_digest", []), found.get("content_type", [])
    if len(digests) != 1 or len(types) != 1 or len(digests[0]) != 1 or len(types[0]) != 1:
        raise SignatureError(
            _("the signature's signed attributes are incomplete"), code="attributes"
        )
    if types[0][0].native != "data":
        raise _not_cms()
    # Signed as a SET OF (tag 0x31), carried as [0] IMPLICIT: same length, same contents.
    encoded = attrs.dump()
    return b"\x31" + encoded[1:], bytes(digests[0][0].native)


# --- The signature itself -------------------------------------------------------------------------


def _hash(name: str) -> hashes.HashAlgorithm:
    try:
        return HASHES[name]()
    except KeyError:
        raise SignatureError(
            _("unsupported signature algorithm: %(name)s") % {"name": name}, code="algorithm"
        ) from None


def _mismatch() -> SignatureError:
    return SignatureError(_("the signature does not match the application"), code="mismatch")


def _check_signature(parsed: _Parsed, data: bytes) -> None:
    if parsed.content is not None and parsed.content != data:
        raise _mismatch()
    digest_algorithm = _hash(parsed.digest_name)
    if parsed.signed_attrs is not None:
        digest = hashes.Hash(digest_algorithm)
        digest.update(data)
        if digest.finalize() != parsed.message_digest:
            raise _mismatch()
        message = parsed.signed_attrs
    else:
        message = data
    try:
        _verify_raw(parsed, message, digest_algorithm)
    except InvalidSignature:
        if parsed.signed_attrs is None:
            raise _mismatch() from None
        # The content matched its digest: the key did not make this signature.
        raise SignatureError(
            _("the signature was not made with the certificate's key"), code="wrong_key"
        ) from None


def _verify_raw(parsed: _Parsed, message: bytes, digest_algorithm: hashes.HashAlgorithm) -> None:
    algorithm = parsed.signature_algorithm
    try:
        kind = algorithm.signature_algo
    except ValueError:
        kind = algorithm["algorithm"].dotted
    key = parsed.signer.public_key()
    if kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
        params = algorithm["parameters"]
        mgf = params["mask_gen_algorithm"]
        if mgf["algorithm"].native != "mgf1":
            raise _unsupported(mgf["algorithm"].native)
        pss = padding.PSS(
            mgf=padding.MGF1(_hash(mgf["parameters"]["algorithm"].native)),
            salt_length=int(params["salt_length"].native),
        )
        key.verify(
            parsed.signature, message, pss, _hash(params["hash_algorithm"]["algorithm"].native)
        )
        return
    try:
        chosen = _hash(algorithm.hash_algo)
    except ValueError:  # rsaEncryption or plain ecdsa: the hash is the digest algorithm
        chosen = digest_algorithm
    if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
        key.verify(parsed.signature, message, padding.PKCS1v15(), chosen)
    elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(parsed.signature, message, ec.ECDSA(chosen))
    else:
        raise _unsupported(str(kind))


def _unsupported(name: str) -> SignatureError:
    return SignatureError(
        _("unsupported signature algorithm: %(name)s") % {"name": name}, code="algorithm"
    )


def _check_key_usage(cert: x509.Certificate) -> None:
    usage = _extension(cert, x509.KeyUsage)
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        raise SignatureError(_("the certificate is not for signatures"), code="key_usage")


# --- The certificate path -------------------------------------------------------------------------


@dataclass
class _Crl:
    crl: x509.CertificateRevocationList
    this_update: dt.datetime
    next_update: dt.datetime | None
    # Issuers (by public key) whose signature on this CRL was checked, and the outcome.
    checked: dict[bytes, bool] = field(default_factory=dict)
    serials: frozenset[int] | None = None

    def signed_by(self, issuer: x509.Certificate) -> bool:
        key = issuer.public_key()
        spki = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if spki not in self.checked:
            try:
                self.checked[spki] = self.crl.is_signature_valid(key)  # type: ignore[arg-type]
            except (TypeError, UnsupportedAlgorithm):
                self.checked[spki] = False
        return self.checked[spki]

    def revokes(self, serial: int) -> bool:
        if self.serials is None:
            self.serials = frozenset(entry.serial_number for entry in self.crl)
        return serial in self.serials


@dataclass
class _Trust:
    anchors: dict[x509.Name, list[x509.Certificate]]
    crls: dict[x509.Name, list[_Crl]]


_last_trust: tuple[tuple[object, ...], _Trust] | None = None


def _trust_for(
    anchors: Sequence[x509.Certificate], crls: Sequence[x509.CertificateRevocationList]
) -> _Trust:
    """Anchors and CRLs indexed by name; the same objects as last time give the same index
    (kept alive by the cache, so identity is a safe key), with its checked CRL signatures
    and revoked-serial sets."""
    global _last_trust
    key = (*anchors, None, *crls)
    last = _last_trust
    if last is not None and len(last[0]) == len(key) and all(map(_same, last[0], key)):
        return last[1]
    trust = _Trust(anchors={}, crls={})
    for anchor in anchors:
        try:
            trust.anchors.setdefault(anchor.subject, []).append(anchor)
        except ValueError:
            logger.warning("JPKI: a trust anchor with an unreadable name is ignored")
    for crl in crls:
        try:
            if _extension(crl, x509.DeltaCRLIndicator) is not None:
                continue  # a delta alone does not say a certificate is good
            entry = _Crl(crl, crl.last_update_utc, crl.next_update_utc)
            trust.crls.setdefault(crl.issuer, []).append(entry)
        except ValueError:
            logger.warning("JPKI: an unreadable CRL is ignored")
    _last_trust = (key, trust)
    return trust


def _same(a: object, b: object) -> bool:
    return a is b


def _extension(obj: Any, kind: type[Any]) -> Any:
    try:
        return obj.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:
        raise SignatureError(_("the certificate cannot be read"), code="unreadable") from exc


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _build_path(
    signer: x509.Certificate, carried: Iterable[x509.Certificate], trust: _Trust
) -> list[x509.Certificate]:
    """``[signer, intermediates…, anchor]``: issuers found by name, proven by signature."""
    intermediates: dict[x509.Name, list[x509.Certificate]] = {}
    for cert in carried:
        try:
            intermediates.setdefault(cert.subject, []).append(cert)
        except ValueError:
            continue

    def extend(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        last = path[-1]
        try:
            wanted = last.issuer
        except ValueError:
            return None
        for anchor in trust.anchors.get(wanted, []):
            if _issued(last, anchor):
                return [*path, anchor]
        if len(path) >= MAX_DEPTH:  # the anchor still to come makes it MAX_DEPTH issuers
            return None
        for candidate in intermediates.get(wanted, []):
            if candidate not in path and _issued(last, candidate):
                found = extend([*path, candidate])
                if found:
                    return found
        return None

    path = extend([signer])
    if path is None:
        raise SignatureError(
            _("the certificate was not issued by a trusted authority"), code="untrusted"
        )
    return path


def _label(cert: x509.Certificate) -> str:
    """An authority as people read it: its CN, else its whole name."""
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _local_day(moment: dt.datetime) -> str:
    return timezone.localtime(moment).date().isoformat()


def _check_path(path: list[x509.Certificate], at: dt.datetime) -> None:
    for depth, cert in enumerate(path):
        if at > cert.not_valid_after_utc:
            day = _local_day(cert.not_valid_after_utc)
            if depth == 0:
                message = _("the certificate expired on %(date)s") % {"date": day}
            else:
                message = _("the certificate of %(name)s expired on %(date)s") % {
                    "name": _label(cert),
                    "date": day,
                }
            raise SignatureError(message, code="expired")
        if at < cert.not_valid_before_utc:
            day = _local_day(cert.not_valid_before_utc)
            if depth == 0:
                message = _("the certificate is valid only from %(date)s") % {"date": day}
            else:
                message = _("the certificate of %(name)s is valid only from %(date)s") % {
                    "name": _label(cert),
                    "date": day,
                }
            raise SignatureError(message, code="not_yet_valid")
        if depth == 0:
            continue
        constraints = _extension(cert, x509.BasicConstraints)
        usage = _extension(cert, x509.KeyUsage)
        # Certificates between this issuer and the signer (RFC 5280 §4.2.1.9).
        below = depth - 1
        if (
            constraints is None
            or not constraints.ca
            or (usage is not None and not usage.key_cert_sign)
            or (constraints.path_length is not None and below > constraints.path_length)
        ):
            raise SignatureError(
                _("%(name)s is not a certification authority") % {"name": _label(cert)},
                code="not_ca",
            )


def _check_revocation(path: list[x509.Certificate], trust: _Trust, at: dt.datetime) -> None:
    """Every certificate below the anchor against a current CRL of its issuer."""
    for depth, (cert, issuer) in enumerate(itertools.pairwise(path)):
        usage = _extension(issuer, x509.KeyUsage)
        current = [
            entry
            for entry in trust.crls.get(issuer.subject, [])
            if entry.this_update <= at
            and entry.next_update is not None
            and at <= entry.next_update
            and (usage is None or usage.crl_sign)
            and entry.signed_by(issuer)
        ]
        if not current:
            raise SignatureError(
                _("revocation cannot be checked: no current CRL for %(issuer)s")
                % {"issuer": issuer.subject.rfc4514_string()},
                code="no_crl",
            )
        latest = max(current, key=lambda entry: entry.this_update)
        if latest.revokes(cert.serial_number):
            if depth == 0:
                message = _("the certificate has been revoked")
            else:
                message = _("the certificate of %(name)s has been revoked") % {"name": _label(cert)}
            raise SignatureError(message, code="revoked")


def _subject_text(cert: Any, oids: Sequence[str]) -> str:
    """The first of ``oids`` in the subject, as text. Read with asn1crypto: a postalAddress
    is by its X.520 syntax a sequence of lines, which cryptography refuses to parse."""
    values: dict[str, Any] = {}
    for rdn in cert.subject.chosen:
        for pair in rdn:
            values.setdefault(pair["type"].dotted, pair["value"])
    for oid in oids:
        if oid in values:
            return _text(values[oid].native).strip()
    return ""


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return " ".join(_text(item) for item in value)
    return "" if value is None else str(value)


# --- Anchors and CRLs from settings ---------------------------------------------------------------

_lock = threading.Lock()
_configured_cache: tuple[object, list[x509.Certificate], list[x509.CertificateRevocationList]] = (
    None,
    [],
    [],
)


def _stamp(path: Path) -> tuple[str, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (path.name, status.st_mtime_ns, status.st_size)


def _crl_files(folder: Path) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(Path(e.path) for e in entries if not e.name.startswith(".") and e.is_file())


def _configured() -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    """The anchors and CRLs of the settings: parsed again only when a file changed (its name,
    size or mtime), so each call costs a few stats."""
    global _configured_cache
    anchors_setting = str(getattr(settings, "MACHI_JPKI_TRUST_ANCHORS", "") or "")
    crl_setting = str(getattr(settings, "MACHI_JPKI_CRL_DIR", "") or "")
    anchors_path = Path(anchors_setting) if anchors_setting else None
    crl_paths = _crl_files(Path(crl_setting)) if crl_setting else []
    stamp = (
        anchors_setting,
        _stamp(anchors_path) if anchors_path else None,
        crl_setting,
        tuple(_stamp(p) for p in crl_paths),
    )
    cached = _configured_cache
    if cached[0] == stamp:
        return cached[1], cached[2]
    with _lock:
        anchors = _load_anchors(anchors_path) if anchors_path else []
        crls = [crl for p in crl_paths for crl in _load_crls(p)]
        _configured_cache = (stamp, anchors, crls)
    return anchors, crls


def _load_anchors(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError:
        return []
    except ValueError:
        logger.warning("JPKI: %s holds no readable PEM certificates", path)
        return []


def _load_crls(path: Path) -> list[x509.CertificateRevocationList]:
    try:
        raw = path.read_bytes()
        if pem.detect(raw):
            return [
                x509.load_der_x509_crl(bytes(der))
                for _label, _headers, der in pem.unarmor(raw, multiple=True)
            ]
        return [x509.load_der_x509_crl(raw)]
    except OSError:
        return []
    except ValueError:
        logger.warning("JPKI: %s is not a CRL (PEM or DER); ignored", path)
        return []
