//! The certificate credential: the component signs its own client
//! assertion (RFC 7523 JWT, as Entra's "certificate credentials" describe
//! it) with the app's private key, which never leaves the component's
//! memory and is never printed.
//!
//! Crates, correctness first: `rsa` (RustCrypto, pure Rust, builds for
//! wasm32-wasip2 without a C toolchain, unlike `ring`) with `sha2` and
//! `sha1`. `rsa` carries RUSTSEC-2023-0071 (Marvin: a timing side channel in
//! its private-key operation, no fixed release); signing here is always
//! blinded with the WASI CSPRNG (`sign_with_rng`), and the README states the
//! residual risk.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::error::Error;

/// Entra's guidance: a short-lived assertion; ten minutes.
const ASSERTION_LIFETIME_SECS: u64 = 600;
const MIN_KEY_BITS: usize = 2048;
/// Far above any real certificate or key.
const MAX_PEM_LEN: usize = 64 * 1024;

/// An app certificate and its private key, checked to belong together.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateKey {
    key: RsaPrivateKey,
    /// base64url SHA-1 of the certificate's DER (`x5t`).
    x5t: String,
    /// base64url SHA-256 of the certificate's DER (`x5t#S256`).
    x5t_s256: String,
    /// The SHA-1 thumbprint in hex, as the Azure portal lists it.
    pub thumbprint: String,
}

/// Never the key: the thumbprint names the certificate.
impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateKey").field("thumbprint", &self.thumbprint).finish_non_exhaustive()
    }
}

impl CertificateKey {
    /// The key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, unencrypted)
    /// and its certificate (`CERTIFICATE`), refused with a reason that never
    /// quotes either.
    pub fn from_pem(private_key_pem: &str, certificate_pem: &str) -> Result<CertificateKey, Error> {
        const KEY: &str = "credential.certificate.private-key";
        const CERT: &str = "credential.certificate.certificate";
        if private_key_pem.len() > MAX_PEM_LEN || certificate_pem.len() > MAX_PEM_LEN {
            return Err(Error::invalid("credential.certificate", "is larger than any key or certificate"));
        }
        let key = parse_key(private_key_pem).map_err(|reason| Error::invalid(KEY, reason))?;
        if key.size() * 8 < MIN_KEY_BITS {
            return Err(Error::invalid(
                KEY,
                format!("is {} bits; Entra needs at least {MIN_KEY_BITS}", key.size() * 8),
            ));
        }
        let der = certificate_der(certificate_pem).map_err(|reason| Error::invalid(CERT, reason))?;
        // The certificate's SubjectPublicKeyInfo holds the PKCS#1 public key
        // verbatim: finding it there proves the pair without an X.509 parser.
        let public = key.to_public_key().to_pkcs1_der().map_err(|_| Error::invalid(KEY, "has no usable public key"))?;
        if !der.windows(public.as_bytes().len()).any(|window| window == public.as_bytes()) {
            return Err(Error::invalid(KEY, "does not belong to the certificate given with it"));
        }
        let sha1 = Sha1::digest(&der);
        Ok(CertificateKey {
            key,
            x5t: URL_SAFE_NO_PAD.encode(sha1),
            x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
            thumbprint: sha1.iter().map(|b| format!("{b:02X}")).collect(),
        })
    }

    /// A fresh client assertion for the token endpoint `audience`: `iss` =
    /// `sub` = the client id, a new `jti`, valid ten minutes from `now`,
    /// RS256 with blinding from `rng`.
    pub fn assertion(
        &self,
        audience: &str,
        client_id: &str,
        now_secs: u64,
        rng: &mut impl rsa::rand_core::CryptoRngCore,
    ) -> Result<String, Error> {
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256});
        let claims = serde_json::json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": uuid::Builder::from_random_bytes(jti).into_uuid().to_string(),
            "nbf": now_secs, "iat": now_secs, "exp": now_secs.saturating_add(ASSERTION_LIFETIME_SECS),
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signer = SigningKey::<Sha256>::new(self.key.clone());
        let signature = signer.try_sign_with_rng(rng, signing_input.as_bytes()).map_err(|_| {
            Error::auth_local(
                "CertificateSigning",
                "the client assertion could not be signed",
                "Check the private key.",
            )
        })?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
    }
}

fn parse_key(pem: &str) -> Result<RsaPrivateKey, String> {
    let pem = pem.trim();
    if pem.contains("ENCRYPTED PRIVATE KEY") || pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err("is encrypted; give it decrypted (openssl pkcs8 -in key.pem -nocrypt -topk8 ... or the host's PKCS#12 import)".into());
    }
    if pem.contains("BEGIN EC PRIVATE KEY") {
        return Err("is an EC key; Entra's certificate credentials here need an RSA key".into());
    }
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        return RsaPrivateKey::from_pkcs1_pem(pem).map_err(|_| "is not a readable PKCS#1 RSA key".into());
    }
    if pem.contains("BEGIN PRIVATE KEY") {
        return RsaPrivateKey::from_pkcs8_pem(pem).map_err(|_| "is not a readable PKCS#8 RSA key".into());
    }
    Err("is not a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)".into())
}

/// The DER of the first `CERTIFICATE` block.
fn certificate_der(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN).ok_or("holds no -----BEGIN CERTIFICATE----- block")?;
    let body = &pem[start + BEGIN.len()..];
    let end = body.find(END).ok_or("has no -----END CERTIFICATE----- line")?;
    let base64: String = body[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(base64).map_err(|_| "is not valid base64 between its PEM lines".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../tests/fixtures/certificate/app-key.pem");
    const KEY_PKCS1: &str = include_str!("../../tests/fixtures/certificate/app-key-pkcs1.pem");
    const CERT: &str = include_str!("../../tests/fixtures/certificate/app-cert.pem");
    const OTHER_CERT: &str = include_str!("../../tests/fixtures/certificate/other-cert.pem");

    struct Counter(u64);
    impl rsa::rand_core::RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            rsa::rand_core::impls::fill_bytes_via_next(self, dest)
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rsa::rand_core::CryptoRng for Counter {}

    #[test]
    fn a_signed_assertion_verifies_with_the_certificates_key_and_names_it() {
        use rsa::signature::Verifier;
        let key = CertificateKey::from_pem(KEY, CERT).unwrap();
        assert_eq!(key, CertificateKey::from_pem(KEY_PKCS1, CERT).unwrap(), "PKCS#1 reads the same");
        let jwt = key
            .assertion("https://login.example/t/oauth2/v2.0/token", "app-id", 1_800_000_000, &mut Counter(1))
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!((header["alg"].as_str(), header["x5t#S256"].as_str()), (Some("RS256"), Some(key.x5t_s256.as_str())));
        assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("app-id"), Some("app-id")));
        assert_eq!(claims["exp"].as_u64(), Some(1_800_000_600));
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.key.to_public_key());
        let signature =
            rsa::pkcs1v15::Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
        verifier.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).unwrap();
        let again = key.assertion("aud", "app-id", 1_800_000_000, &mut Counter(2)).unwrap();
        assert_ne!(again.split('.').nth(1), jwt.split('.').nth(1), "a new jti each time");
    }

    #[test]
    fn a_key_of_another_certificate_or_no_key_is_refused_without_quoting_it() {
        let error = CertificateKey::from_pem(KEY, OTHER_CERT).unwrap_err();
        assert!(format!("{error}").contains("does not belong to the certificate"), "{error}");
        for bad in ["", "not a key", &KEY[..200]] {
            let error = CertificateKey::from_pem(bad, CERT).unwrap_err();
            let shown = format!("{error:?} {error}");
            assert!(matches!(error, Error::InvalidInput { .. }), "{shown}");
            assert!(!shown.contains("MII"), "never quotes the key: {shown}");
        }
        let debug = format!("{:?}", CertificateKey::from_pem(KEY, CERT).unwrap());
        assert!(debug.contains("thumbprint") && !debug.contains("MII"), "{debug}");
    }
}
