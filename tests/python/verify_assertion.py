"""Checks a client assertion the connector signed, independently of its
Rust code: OpenSSL (through `cryptography`) verifies the RS256 signature
with the certificate's public key, and the header's x5t#S256 is the
certificate's SHA-256. Usage: verify_assertion.py CERT.pem < assertion"""

import base64
import hashlib
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main(cert_path: str) -> int:
    assertion = sys.stdin.read().strip()
    header, claims, signature = assertion.split(".")
    certificate = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    der = certificate.public_bytes(serialization.Encoding.DER)
    head = json.loads(b64url(header))
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    if head.get("alg") != "RS256" or head.get("x5t#S256") != expected:
        print(f"header does not name this certificate: {head}", file=sys.stderr)
        return 1
    certificate.public_key().verify(
        b64url(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    print(json.dumps(json.loads(b64url(claims))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
