import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from canary_operator.lab.pki import KUBERNETES_SERVICE_IP, generate_pki


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_serving_and_admin_certificates_are_issued_by_the_ca(tmp_path: Path) -> None:
    pki = generate_pki(tmp_path)
    ca = _load(pki.ca_cert)
    for leaf in (pki.apiserver_cert, pki.admin_cert):
        _load(leaf).verify_directly_issued_by(ca)


def test_serving_certificate_covers_loopback_and_the_service_ip(tmp_path: Path) -> None:
    cert = _load(generate_pki(tmp_path).apiserver_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in ips
    assert ipaddress.ip_address(KUBERNETES_SERVICE_IP) in ips
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_admin_is_a_client_in_group_system_masters(tmp_path: Path) -> None:
    cert = _load(generate_pki(tmp_path).admin_cert)
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:masters"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage


def test_private_keys_are_readable_only_by_their_owner(tmp_path: Path) -> None:
    pki = generate_pki(tmp_path)
    for key in (pki.ca_key, pki.apiserver_key, pki.admin_key, pki.service_account_key):
        assert key.stat().st_mode & 0o077 == 0, key
