//! Workload identity federation (issue 14, item 2): a federated token signs
//! the app in as a `client-assertion`, end to end through the built
//! component against the emulator's token endpoint, which checks it as Entra
//! does (the trusted issuer's signature, the federated credential's issuer,
//! subject and audience, the time) and answers with Entra's AADSTS codes.

mod common;

use common::{config_for, host};
use sentinel_connector::core::config::{ConnectionConfig, Credential};
use sentinel_connector::core::http::Secret;
use sentinel_emulator::{Emulator, EmulatorOptions};
use sentinel_host::runtime::types::{CredentialKind, ErrorKind};
use sentinel_host::runtime::{list_options, CallError};

fn with_assertion(emulator: &Emulator, assertion: &str) -> ConnectionConfig {
    ConnectionConfig { credential: Credential::ClientAssertion(Secret::new(assertion)), ..config_for(&emulator.url()) }
}

fn token_requests(emulator: &Emulator) -> Vec<String> {
    emulator
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

/// Neither the token nor any long run of it, raw or form-encoded.
fn assert_absent(text: &str, token: &str) {
    for part in [token, &token[..24], &token[token.len() - 24..]] {
        assert!(!text.contains(part), "the assertion leaked: {text}");
        let encoded: String = url::form_urlencoded::byte_serialize(part.as_bytes()).collect();
        assert!(!text.contains(&encoded), "the assertion leaked form-encoded: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_federated_token_signs_the_app_in_without_a_secret() {
    let emulator = Emulator::start(EmulatorOptions { incidents: 3, ..EmulatorOptions::default() }).await.unwrap();
    let token = emulator.federated_token(3600);
    let mut session = host().open("wif", with_assertion(&emulator, &token), None).await.unwrap();
    let page = session.list_incidents(list_options()).await.unwrap();
    assert_eq!(page.incidents.len(), 3);
    let forms = token_requests(&emulator);
    assert_eq!(forms.len(), 1, "one token for ARM");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(forms[0].as_bytes()).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(field("client_assertion_type"), Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
    assert_eq!(field("client_assertion"), Some(token.as_str()));
    assert_eq!(field("client_secret"), None, "no secret is sent");

    let checks = session.check_connection().await.unwrap();
    assert!(checks.iter().all(|c| c.token_ok && matches!(c.credential, CredentialKind::ClientAssertion)), "{checks:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_assertions_are_typed_with_entras_code_a_hint_and_never_the_token() {
    let emulator = Emulator::start(EmulatorOptions { incidents: 1, ..EmulatorOptions::default() }).await.unwrap();
    let expired = emulator.federated_token(-60);
    // The right claims, but not from the trusted issuer: its signature fails.
    let forged = {
        let other = Emulator::start(EmulatorOptions::default()).await.unwrap();
        other.federated_token(3600)
    };
    for (token, code, hint_word) in [(expired, "AADSTS700024", "expired"), (forged, "AADSTS700027", "signature")] {
        let mut session = host().open("wif", with_assertion(&emulator, &token), None).await.unwrap();
        let Err(CallError::Connector(error)) = session.list_incidents(list_options()).await else {
            panic!("{code}: the sign-in must be refused")
        };
        assert_eq!((error.kind, error.code.as_str()), (ErrorKind::Auth, code), "{error:?}");
        assert!(error.hint.contains(hint_word), "{error:?}");
        assert_absent(&format!("{error:?} {error}"), &token);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn something_that_is_not_a_jwt_is_refused_before_any_request() {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let Err(CallError::Connector(error)) =
        host().open("wif", with_assertion(&emulator, "/var/run/secrets/azure/tokens/azure-identity-token"), None).await
    else {
        panic!("refused when the connection opens")
    };
    assert_eq!((error.kind, error.subject.as_str()), (ErrorKind::InvalidInput, "credential.client-assertion"));
    assert!(error.message.contains("not its path"), "{error:?}");
    assert!(token_requests(&emulator).is_empty(), "nothing was sent");
}
