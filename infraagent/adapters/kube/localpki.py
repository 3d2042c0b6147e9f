"""The throw-away PKI of the local control plane: a CA, a serving and an admin certificate.

Everything is an ECDSA P-256 key, valid for two days, written with mode 0600. The admin is
in ``system:masters``. It deliberately does not rotate, revoke or persist anything: a
local control plane gets fresh certificates on every start.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def pem(obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    """PEM bytes of a certificate or (unencrypted PKCS8) private key."""
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Issued:
    """A certificate and its key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _key_usage(is_ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    cn: str, *, orgs: Sequence[str] = (), ca: Issued | None = None, server: bool = False
) -> Issued:
    """A CA (``ca=None``), or a server / client certificate signed by ``ca``; valid 2 days."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if ca is None else ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_key_usage(ca is None), critical=True)
    )
    if ca is not None:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.key if ca else key, hashes.SHA256()), key)


def write_pki(d: Path, name: str) -> tuple[Issued, Issued]:
    """CA, serving certificate, admin client certificate and ServiceAccount keys in ``d``
    (mode 0600); returns the CA and the admin."""
    ca = issue(f"{name}-ca")
    serving = issue("localhost", ca=ca, server=True)
    admin = issue(f"{name}-admin", orgs=["system:masters"], ca=ca)
    sa = ec.generate_private_key(ec.SECP256R1())
    files = {
        "ca.crt": pem(ca.cert),
        "apiserver.crt": pem(serving.cert),
        "apiserver.key": pem(serving.key),
        "admin.crt": pem(admin.cert),
        "admin.key": pem(admin.key),
        "sa.key": pem(sa),
        "sa.pub": sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    }
    for file, data in files.items():
        (d / file).write_bytes(data)
        (d / file).chmod(0o600)
    return ca, admin
