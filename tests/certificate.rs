//! The certificate credential (issue 14, item 1), end to end: the built
//! component signs a client assertion with the app's key, and the
//! emulator's token endpoint checks it as Entra does; an independent
//! verifier (OpenSSL through Python's `cryptography`) checks the signature.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::{config_for, host};
use sentinel_connector::core::config::{ConnectionConfig, Credential};
use sentinel_connector::core::http::Secret;
use sentinel_emulator::{Emulator, EmulatorOptions};
use sentinel_host::runtime::types::{CredentialKind, ErrorKind};
use sentinel_host::runtime::{list_options, CallError};
use sha1::Digest as _;

const KEY: &str = include_str!("fixtures/certificate/app-key.pem");
const CERT: &str = include_str!("fixtures/certificate/app-cert.pem");
const OTHER_KEY: &str = include_str!("fixtures/certificate/other-key.pem");
const OTHER_CERT: &str = include_str!("fixtures/certificate/other-cert.pem");
const CERT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/certificate/app-cert.pem");

fn with_certificate(emulator: &Emulator, key: &str, cert: &str) -> ConnectionConfig {
    let credential = Credential::Certificate { private_key: Secret::new(key), certificate: cert.into() };
    ConnectionConfig { credential, ..config_for(&emulator.url()) }
}

fn assertions_sent(emulator: &Emulator) -> Vec<String> {
    emulator
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .filter_map(|r| {
            url::form_urlencoded::parse(&r.body).find(|(k, _)| k == "client_assertion").map(|(_, v)| v.into_owned())
        })
        .collect()
}

/// The SHA-1 of the certificate's DER in hex: what the portal lists.
fn thumbprint(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    sha1::Sha1::digest(der).iter().map(|b| format!("{b:02X}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_component_signs_in_with_a_certificate_and_names_its_thumbprint() {
    let emulator = Emulator::start(EmulatorOptions { incidents: 2, ..EmulatorOptions::default() }).await.unwrap();
    let mut session = host().open("cert", with_certificate(&emulator, KEY, CERT), None).await.unwrap();
    assert_eq!(session.list_incidents(list_options()).await.unwrap().incidents.len(), 2);
    let checks = session.check_connection().await.unwrap();
    for check in &checks {
        assert!(check.token_ok && matches!(check.credential, CredentialKind::Certificate), "{check:?}");
        assert_eq!(check.certificate_thumbprint.as_deref(), Some(thumbprint(CERT).as_str()));
    }
    let sent = assertions_sent(&emulator);
    assert_eq!(sent.len(), 3, "one assertion per API token");
    let mut distinct = sent.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "a fresh assertion (and jti) each time");

    // An independent verifier: OpenSSL, through Python's `cryptography`.
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/verify_assertion.py");
    let mut child = Command::new(python)
        .args([script, CERT_PATH])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the .venv's Python (scripts/setup)");
    child.stdin.take().unwrap().write_all(sent[0].as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the signature verifies: {}", String::from_utf8_lossy(&output.stderr));
    let claims: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let client_id = sentinel_emulator::DEFAULT_CLIENT_ID;
    assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(client_id), Some(client_id)));
    let audience = format!("{}/{}/oauth2/v2.0/token", emulator.url(), sentinel_emulator::DEFAULT_TENANT_ID);
    assert_eq!(claims["aud"].as_str(), Some(audience.as_str()));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap();
    assert_eq!(lifetime, 600, "short-lived");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unregistered_certificate_is_refused_by_entra_and_the_key_never_shows() {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let mut session = host().open("cert", with_certificate(&emulator, OTHER_KEY, OTHER_CERT), None).await.unwrap();
    let Err(CallError::Connector(error)) = session.list_incidents(list_options()).await else { panic!("refused") };
    assert_eq!((error.kind, error.code.as_str()), (ErrorKind::Auth, "AADSTS700027"), "{error:?}");
    assert!(error.hint.contains("certificate is uploaded"), "{error:?}");
    let shown = format!("{error:?} {error}");
    for line in OTHER_KEY.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(&line[..16]), "a piece of the key: {shown}");
    }
    for assertion in assertions_sent(&emulator) {
        assert!(!shown.contains(&assertion[assertion.len() - 24..]), "the assertion: {shown}");
    }

    emulator.register_certificate(OTHER_CERT);
    assert!(session.list_incidents(list_options()).await.is_ok(), "once uploaded, it signs in");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_is_not_the_certificates_is_refused_before_any_request() {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let Err(CallError::Connector(error)) =
        host().open("cert", with_certificate(&emulator, OTHER_KEY, CERT), None).await
    else {
        panic!("refused when the connection opens")
    };
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert_eq!(error.subject, "credential.certificate.private-key");
    assert!(error.message.contains("does not belong to the certificate"), "{error:?}");
    assert!(emulator.requests().is_empty(), "nothing was sent");
}
