"""Pooled TLS connections: a connection checked for one host name never serves another.

A real TLS server on 127.0.0.1 with a certificate for `a.test` only, issued by a test CA that
the delivery client trusts; every delivery is pinned to 127.0.0.1 with its host name as SNI.
"""

import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.receiver import Answer, Receiver
from workflows.delivery.http import PinnedConnections, TransportError, post
from workflows.delivery.target_guard import ResolvedTarget
from workflows.kernel.models import utc_now

pytestmark = pytest.mark.functional

NAMED_HOST, OTHER_HOST = "a.test", "b.test"


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = utc_now()
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(now + timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for a.test only, client context trusting its CA)."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Stepwire test CA")])
    ca = _certificate("Stepwire test CA", ca_key, ca_name, ca_key, ca=True)
    leaf = _certificate(NAMED_HOST, leaf_key, ca_name, ca_key, ca=False)
    folder = tmp_path_factory.mktemp("tls")
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.key").write_bytes(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    client = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


@pytest.fixture
def handshakes(tls) -> Iterator[list[str]]:
    """The SNI name of every TLS handshake the server completes a hello for."""
    names: list[str] = []
    server, _ = tls
    server.sni_callback = lambda _socket, name, _context: names.append(name)
    yield names
    server.sni_callback = None


@pytest.fixture
def receiver(tls) -> Iterator[Receiver]:
    with Receiver(tls=tls[0]) as running:
        yield running


def _target(host: str, port: int) -> ResolvedTarget:
    return ResolvedTarget(url=f"https://{host}:{port}/hook", scheme="https", host=host,
                          port=port, address="127.0.0.1")


def _deliver(connections: PinnedConnections, target: ResolvedTarget) -> int:
    return post(target, b"{}", {"content-type": "application/json"}, connect_timeout=5,
                request_timeout=5, retry_after_cap=60, connections=connections).status_code


def test_a_connection_checked_for_one_host_is_not_reused_for_another(tls, receiver,
                                                                     handshakes):
    # Given a delivery to a.test over TLS, pinned to 127.0.0.1, with a kept-alive connection
    connections = PinnedConnections(connect_timeout=5, request_timeout=5, ssl_context=tls[1])
    assert _deliver(connections, _target(NAMED_HOST, receiver.port)) == 200
    # When b.test, pinned to the same address, is delivered to
    # Then its own handshake checks the certificate, which names a.test only: a TLS failure
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED|match|hostname"):
        _deliver(connections, _target(OTHER_HOST, receiver.port))
    assert handshakes == [NAMED_HOST, OTHER_HOST]
    assert len(receiver.requests["/hook"]) == 1


def test_deliveries_to_the_same_host_reuse_one_connection(tls, receiver, handshakes):
    # Given a delivery to a.test
    connections = PinnedConnections(connect_timeout=5, request_timeout=5, ssl_context=tls[1])
    # When three more follow
    statuses = [_deliver(connections, _target(NAMED_HOST, receiver.port)) for _ in range(4)]
    # Then all four were delivered over one TLS handshake
    assert statuses == [200] * 4
    assert handshakes == [NAMED_HOST]


def test_pools_beyond_the_bound_are_closed_least_recently_used_first(tls, receiver,
                                                                     handshakes):
    # Given room for two pools, and a.test used last
    connections = PinnedConnections(connect_timeout=5, request_timeout=5, ssl_context=tls[1],
                                    max_pools=2)
    plain = Receiver()
    with plain:
        for host in ("one.localhost", "two.localhost"):
            target = ResolvedTarget(url=f"http://{host}:{plain.port}/hook", scheme="http",
                                    host=host, port=plain.port, address="127.0.0.1")
            assert _deliver(connections, target) == 200
        assert _deliver(connections, _target(NAMED_HOST, receiver.port)) == 200
    # Then only two pools are kept, and a.test's still serves without a new handshake
    assert connections.pool_count() == 2
    assert _deliver(connections, _target(NAMED_HOST, receiver.port)) == 200
    assert handshakes == [NAMED_HOST]


def test_a_pool_evicted_while_in_use_finishes_its_request(tls, receiver, handshakes):
    # Given room for one pool and a request to a.test in flight
    connections = PinnedConnections(connect_timeout=5, request_timeout=5, ssl_context=tls[1],
                                    max_pools=1)
    started, release = threading.Event(), threading.Event()

    def slow(_received):
        started.set()
        release.wait(5)
        return Answer(status=204)

    receiver.script = slow
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(
        _deliver(connections, _target(NAMED_HOST, receiver.port))))
    worker.start()
    assert started.wait(5)
    # When another host's pool takes its place
    plain = Receiver()
    with plain:
        assert _deliver(connections, ResolvedTarget(
            url=f"http://c.localhost:{plain.port}/hook", scheme="http", host="c.localhost",
            port=plain.port, address="127.0.0.1")) == 200
    release.set()
    worker.join(5)
    # Then the request in flight still completes
    assert results == [204]
    assert connections.pool_count() == 1
