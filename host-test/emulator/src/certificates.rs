//! Certificate client assertions, checked as Entra documents its checks,
//! each refusal with its AADSTS code: the certificate named by `x5t#S256`
//! (or `x5t`) must be one the app registration has on file and its key must
//! verify the RS256 signature (AADSTS700027); `iss` and `sub` must be the
//! client id (AADSTS700021); `aud` the token endpoint (AADSTS700023); the
//! time inside `nbf`..`exp` (AADSTS700024). A `jti` seen before is refused
//! as a replay (Microsoft documents no code of its own for that; AADSTS700027).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::Value;
use sha2::{Digest, Sha256};
use x509_cert::der::{DecodePem, Encode};

use crate::reply::Reply;
use crate::state::Shared;
use crate::token::entra_error;

/// The certificate the emulator's app registration has on file by default:
/// a throwaway test certificate (tests/fixtures/certificate/README.md).
pub const DEFAULT_CERTIFICATE: &str = include_str!("../../../tests/fixtures/certificate/app-cert.pem");

/// A registered certificate: its thumbprints and public key.
struct Registered {
    x5t: String,
    x5t_s256: String,
    key: RsaPublicKey,
}

fn registered(pem: &str) -> Option<Registered> {
    let certificate = x509_cert::Certificate::from_pem(pem.as_bytes()).ok()?;
    let der = certificate.to_der().ok()?;
    let spki = certificate.tbs_certificate.subject_public_key_info.to_der().ok()?;
    Some(Registered {
        x5t: URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der)),
        x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
        key: RsaPublicKey::from_public_key_der(&spki).ok()?,
    })
}

pub(crate) fn check(
    shared: &Shared,
    assertion: &str,
    header: &Value,
    client_id: &str,
    audience: &str,
) -> Result<(), Reply> {
    let invalid = |code: u32, message: &str| entra_error(401, "invalid_client", code, message);
    let parts: Vec<&str> = assertion.split('.').collect();
    let [head, body, signature] = parts.as_slice() else {
        return Err(entra_error(
            400,
            "invalid_request",
            50027,
            "Invalid JWT token: the client assertion is not a JWT.",
        ));
    };
    let certificates = shared.state().certificates.clone();
    let thumbprint = |name: &str| header.get(name).and_then(Value::as_str).map(str::to_owned);
    let (s256, sha1) = (thumbprint("x5t#S256"), thumbprint("x5t"));
    let Some(certificate) = certificates.iter().filter_map(|pem| registered(pem)).find(|c| {
        s256.as_deref() == Some(c.x5t_s256.as_str()) || (s256.is_none() && sha1.as_deref() == Some(c.x5t.as_str()))
    }) else {
        return Err(invalid(
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on application.",
        ));
    };
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(invalid(700027, "Client assertion contains an invalid signature: only RS256 is accepted here."));
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok().and_then(|bytes| Signature::try_from(bytes.as_slice()).ok());
    let verified = signature.is_some_and(|signature| {
        VerifyingKey::<Sha256>::new(certificate.key.clone())
            .verify(format!("{head}.{body}").as_bytes(), &signature)
            .is_ok()
    });
    if !verified {
        return Err(invalid(700027, "Client assertion contains an invalid signature."));
    }
    let claims: Value =
        URL_SAFE_NO_PAD.decode(body).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or(Value::Null);
    if claims["iss"] != client_id || claims["sub"] != client_id {
        return Err(invalid(700021, "Client assertion application identifier doesn't match 'client_id' parameter."));
    }
    if claims["aud"].as_str().map(|a| a.trim_end_matches('/')) != Some(audience.trim_end_matches('/')) {
        return Err(invalid(700023, "Client assertion audience claim does not match Realm issuer."));
    }
    let now = jiff::Timestamp::now().as_second();
    let (nbf, exp) = (claims["nbf"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    if now + 300 < nbf || now >= exp {
        return Err(invalid(700024, &format!("Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}.")));
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err(invalid(700027, "The client assertion has no jti."));
    };
    if !shared.state().assertion_ids.insert(jti.to_owned()) {
        return Err(invalid(700027, "The client assertion's jti was used before: a replayed assertion is refused."));
    }
    Ok(())
}
