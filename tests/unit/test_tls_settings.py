"""The TLS settings: both files or neither, read from the environment like every setting, and every way a
certificate or key cannot be served refused with a message that names the file and what to fix."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from service.settings import Settings, for_serving, load_settings
from service.tls import ServingCertificate, load_serving_certificate
from tests.support.tls import Certificates, make_certificates, write_other_key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def _refusal(cert: Path | str = "", key: Path | str = "") -> str:
    settings = load_settings({}, dev_cluster=True, tls_cert_file=str(cert), tls_key_file=str(key))
    with pytest.raises(ValueError) as refused:
        for_serving(settings)
    return str(refused.value)


def test_no_files_is_plain_http() -> None:
    assert _served(for_serving(load_settings({}, dev_cluster=True))) is None


def test_the_environment_gives_both_files(certificates: Certificates) -> None:
    environ = {
        "KUBERAY_APISERVER_TLS_CERT_FILE": str(certificates.cert),
        "KUBERAY_APISERVER_TLS_KEY_FILE": str(certificates.key),
    }
    served = _served(for_serving(load_settings(environ, dev_cluster=True)))
    assert served is not None
    assert served.subject == "CN=kuberay-apiserver"
    assert served.not_after > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    assert served.certificate_chain == certificates.cert.read_bytes()
    assert served.private_key == certificates.key.read_bytes()
    # A repr (in a log line, a traceback) never shows the key.
    assert "PRIVATE" not in repr(served) and served.private_key.decode() not in repr(served)


def test_one_file_without_the_other(certificates: Certificates) -> None:
    only_cert = _refusal(cert=certificates.cert)
    assert "--tls-cert-file (KUBERAY_APISERVER_TLS_CERT_FILE) is set but --tls-key-file" in only_cert
    assert "give both" in only_cert
    only_key = _refusal(key=certificates.key)
    assert "--tls-key-file (KUBERAY_APISERVER_TLS_KEY_FILE) is set but --tls-cert-file" in only_key


def test_files_that_cannot_be_read(certificates: Certificates, tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    assert (
        _refusal(certificates.cert, missing)
        == f"cannot read --tls-key-file {missing}: No such file or directory"
    )
    assert _refusal(tmp_path, certificates.key) == f"cannot read --tls-cert-file {tmp_path}: Is a directory"


def test_files_swapped_or_garbled(certificates: Certificates, tmp_path: Path) -> None:
    assert "holds no PEM certificate" in _refusal(certificates.key, certificates.key)
    assert "holds no PEM private key" in _refusal(certificates.cert, certificates.cert)
    garbled = tmp_path / "garbled.crt"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    assert f"--tls-cert-file {garbled}: its certificate cannot be read" in _refusal(garbled, certificates.key)


def test_a_key_of_another_certificate(certificates: Certificates, tmp_path: Path) -> None:
    other = write_other_key(tmp_path / "other.key")
    message = _refusal(certificates.cert, other)
    assert f"the private key in --tls-key-file {other} does not belong to the certificate" in message


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(
    certificates: Certificates, tmp_path: Path
) -> None:
    encrypted = write_other_key(tmp_path / "encrypted.key", password=b"hunter2")
    assert f"--tls-key-file {encrypted} is encrypted with a passphrase" in _refusal(
        certificates.cert, encrypted
    )


def _served(settings: Settings) -> ServingCertificate | None:
    return load_serving_certificate(settings.tls_cert_file, settings.tls_key_file)
