"""A throwaway certificate authority for the simulated cluster's TLS (tests and demos only).

Owns: generating, with ``cryptography``, a self-signed CA and one server certificate per node
address (IP SANs for the node's address, plus ``localhost`` and 127.0.0.1 so one certificate
also serves the distinct-ports layout), written as PEM files into a directory, and the
``ssl.SSLContext`` objects built from them (server side for the nodes, client side trusting
the CA). Keys are EC P-256: generating them takes milliseconds, RSA would take seconds.

It must not be used for anything but tests: keys are unencrypted files in a temp directory.
No sockets, no hub.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["TestCertificates", "make_test_certificates"]

#: long enough for any test run, short enough that nobody mistakes these for real certificates
_VALIDITY = datetime.timedelta(days=2)


@dataclass
class TestCertificates:
    """PEM files of a test CA and its node certificates (paths), and contexts built on them."""

    __test__ = False  # not a pytest test class, despite the name

    directory: str
    ca_cert: str
    #: address -> (certificate path, key path)
    node_certs: dict[str, tuple[str, str]] = field(default_factory=dict)

    def server_context(self, address: str) -> ssl.SSLContext:
        """The server-side context of the node at ``address``."""
        cert, key = self.node_certs.get(address) or next(iter(self.node_certs.values()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def client_context(self, check_hostname: bool = True) -> ssl.SSLContext:
        """A client context that trusts only this CA (and checks the node's name by default)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca_cert)
        ctx.check_hostname = check_hostname
        return ctx


def _name(common_name: str):  # -> x509.Name
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "greencql test CA"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_test_certificates(
    addresses: Iterable[str], directory: str | None = None, names: Iterable[str] | None = None
) -> TestCertificates:
    """Create a CA and a certificate per address in ``directory`` (a new temp dir if None).

    Each node certificate names its address, 127.0.0.1 and localhost; with ``names``, it names
    exactly those DNS names instead (a certificate for the wrong name, for tests)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    directory = directory or tempfile.mkdtemp(prefix="greencql-certs-")
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    pem = serialization.Encoding.PEM
    key_format = serialization.PrivateFormat.PKCS8
    no_crypt = serialization.NoEncryption()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("greencql test CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    certs = TestCertificates(directory, _write(os.path.join(directory, "ca.pem"),
                                               ca.public_bytes(pem)))
    for address in dict.fromkeys(addresses):
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName]
        if names is not None:
            sans = [x509.DNSName(name) for name in names]
        else:
            ips = {ipaddress.ip_address(address), ipaddress.ip_address("127.0.0.1")}
            sans = [x509.DNSName("localhost")]
            sans += [x509.IPAddress(ip) for ip in sorted(ips)]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(address))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        base = os.path.join(directory, f"node-{address}")
        cert_path = _write(base + ".pem", cert.public_bytes(pem))
        key_path = _write(base + ".key", key.private_bytes(pem, key_format, no_crypt))
        certs.node_certs[address] = (cert_path, key_path)
    return certs
