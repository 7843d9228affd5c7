"""The certificate and key the service serves HTTPS and gRPC over TLS with, read and checked once at start."""

from __future__ import annotations

import datetime
import re
import ssl
from pathlib import Path


class ServingCertificate:
    """The certificate chain and private key the service serves TLS with (the key never appears in a repr)."""

    def __init__(
        self, certificate_chain: bytes, private_key: bytes, subject: str, not_after: datetime.datetime
    ):
        self.certificate_chain = certificate_chain
        self.private_key = private_key
        self.subject = subject
        """The server certificate's subject, e.g. ``CN=kuberay-apiserver``."""
        self.not_after = not_after
        """When the server certificate expires (UTC)."""

    def __repr__(self) -> str:
        return f"ServingCertificate(subject={self.subject!r}, not_after={self.not_after.isoformat()})"


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> str:
    # OpenSSL would otherwise prompt on the terminal for an encrypted key's passphrase.
    raise _EncryptedKey


_CERT_OPTION = "--tls-cert-file (KUBERAY_APISERVER_TLS_CERT_FILE)"
_KEY_OPTION = "--tls-key-file (KUBERAY_APISERVER_TLS_KEY_FILE)"


def _read(path: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {option} {path}: {exc.strerror or exc}") from None


def load_serving_certificate(cert_path: str, key_path: str) -> ServingCertificate | None:
    """The TLS certificate and key in these files, checked to belong together; None when neither is given.

    A ``ValueError`` says what to fix: only one of the two files given, a file that cannot be read, no PEM
    certificate or key in it, an encrypted key, or a key that is not the certificate's.
    """
    if not cert_path and not key_path:
        return None
    if not (cert_path and key_path):
        given, missing = (_CERT_OPTION, _KEY_OPTION) if cert_path else (_KEY_OPTION, _CERT_OPTION)
        raise ValueError(
            f"{given} is set but {missing} is not: give both (the PEM certificate and its private key) to "
            "serve HTTPS and gRPC over TLS, or neither to serve plain HTTP"
        )
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    chain, key = _read(cert_path, "--tls-cert-file"), _read(key_path, "--tls-key-file")
    if b"-----BEGIN CERTIFICATE-----" not in chain:
        raise ValueError(
            f"--tls-cert-file {cert_path} holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)"
        )
    if not re.search(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----", key):
        raise ValueError(
            f"--tls-key-file {key_path} holds no PEM private key (a -----BEGIN PRIVATE KEY----- block)"
        )
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
    except ValueError as exc:
        raise ValueError(f"--tls-cert-file {cert_path}: its certificate cannot be read: {exc}") from None
    try:
        load_pem_private_key(key, password=None)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise ValueError(
            f"--tls-key-file {key_path} is encrypted with a passphrase, which the service cannot be given: "
            "store the key unencrypted (as a Kubernetes TLS Secret does) in a file only the service may read"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"--tls-key-file {key_path}: its private key cannot be read: {exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path, password=_no_passphrase)
    except (ssl.SSLError, OSError, _EncryptedKey) as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ValueError(
                f"the private key in --tls-key-file {key_path} does not belong to the certificate in "
                f"--tls-cert-file {cert_path} (the server's own certificate must come first in that file)"
            ) from None
        raise ValueError(
            f"--tls-cert-file {cert_path} and --tls-key-file {key_path} are not a usable PEM certificate and "
            f"private key: {exc}"
        ) from None
    return ServingCertificate(chain, key, leaf.subject.rfc4514_string(), leaf.not_valid_after_utc)
