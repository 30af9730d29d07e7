"""Dynamics 365 with a certificate credential instead of a client secret: msal signs a client
assertion with the certificate's key, the sandbox checks it against the certificates registered
on the application, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from crmseg.errors import AuthRefusedError, ConfigError
from tests.connector_fixtures import Harness, write_rules


def _certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crmseg test app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(key: rsa.RSAPrivateKey, cert: x509.Certificate, password: bytes | None = None) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc) + cert.public_bytes(
        serialization.Encoding.PEM
    )


@pytest.fixture(scope="module")
def pair() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return _certificate()


@pytest.fixture
def h(tmp_path, pair):
    harness = Harness("dynamics", write_rules(tmp_path / "rules"), accounts=12)
    harness.sb.app.certificates.append(pair[1].public_bytes(serialization.Encoding.PEM).decode())
    yield harness
    harness.close()


def _env(h: Harness, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in h.sb.env().items() if k != "DYNAMICS_CLIENT_SECRET"}
    return {**env, **extra}


def test_a_registered_certificate_gets_a_token_without_the_secret(h, pair, tmp_path: Path) -> None:
    path = tmp_path / "app.pem"
    path.write_bytes(_pem(*pair))
    conn = h.connector(env=_env(h, DYNAMICS_CLIENT_CERTIFICATE=str(path)))
    assert len(list(conn.read(["name"]))) == 12
    assert h.sb.stats()["logins"] == 1


def test_an_encrypted_key_and_a_pfx_file_work_with_their_password(h, pair, tmp_path: Path) -> None:
    pem = tmp_path / "app-encrypted.pem"
    pem.write_bytes(_pem(*pair, password=b"pw-123"))
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"app", pair[0], pair[1], None, serialization.BestAvailableEncryption(b"pw-456")
        )
    )
    for path, password in ((pem, "pw-123"), (pfx, "pw-456")):
        env = _env(h, DYNAMICS_CLIENT_CERTIFICATE=str(path), DYNAMICS_CLIENT_CERTIFICATE_PASSWORD=password)
        assert len(list(h.connector(env=env).read(["name"]))) == 12


def test_an_unregistered_certificate_is_refused_naming_the_variable(h, tmp_path: Path) -> None:
    path = tmp_path / "other.pem"
    path.write_bytes(_pem(*_certificate()))
    with pytest.raises(AuthRefusedError, match=r"certificate in DYNAMICS_CLIENT_CERTIFICATE.*AADSTS700027") as err:
        h.connector(env=_env(h, DYNAMICS_CLIENT_CERTIFICATE=str(path))).crm_identity()
    assert "PRIVATE KEY" not in str(err.value)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, r"cannot read the certificate file"),
        (b"not a pem file", r"needs the private key and the certificate in PEM"),
        ("key-only", r"needs the private key and the certificate in PEM"),
        ("encrypted-no-password", r"password is needed or wrong"),
    ],
)
def test_a_bad_certificate_file_names_the_variable(h, pair, tmp_path: Path, content, message) -> None:
    path = tmp_path / "bad.pem"
    if content == "key-only":
        path.write_bytes(_pem(*pair).split(b"-----BEGIN CERTIFICATE-----")[0])
    elif content == "encrypted-no-password":
        path.write_bytes(_pem(*pair, password=b"secret-pw"))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"DYNAMICS_CLIENT_CERTIFICATE: .*{message}") as err:
        h.connector(env=_env(h, DYNAMICS_CLIENT_CERTIFICATE=str(path))).crm_identity()
    assert "PRIVATE KEY-----\n" not in str(err.value) and h.sb.stats()["logins"] == 0


def test_neither_secret_nor_certificate_names_both_variables(h) -> None:
    with pytest.raises(ConfigError, match=r"DYNAMICS_CLIENT_SECRET.*DYNAMICS_CLIENT_CERTIFICATE"):
        h.connector(env=_env(h)).crm_identity()
