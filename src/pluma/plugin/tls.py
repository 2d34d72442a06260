"""Automatic mutual TLS for the plugin channel (go-plugin's ``AutoMTLS``).

Each side makes a throwaway self-signed certificate at start: the host hands
its own to the plugin in ``PLUGIN_CLIENT_CERT`` (PEM), the plugin answers
with its own in the handshake line (DER), and each trusts exactly the other's.
So no other local user can talk to a plugin's socket, even one that can open
it. Certificates use ECDSA P-256 and name ``localhost``, the name go-plugin's
client checks.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

SERVER_NAME = "localhost"


@dataclass(frozen=True, slots=True)
class Identity:
    cert_pem: bytes
    key_pem: bytes
    cert_der: bytes


def new_identity() -> Identity:
    """A fresh key and a self-signed certificate for ``localhost``, valid
    for both client and server authentication."""
    # The cryptography package is the well-kept tool for X.509; nothing here
    # is hand-rolled crypto, only the certificate's fields.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return Identity(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


def der_to_pem(der: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
