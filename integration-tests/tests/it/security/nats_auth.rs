//! NATS that requires user/password, a token, a credentials file (NKey + JWT) or TLS with a
//! custom CA (and mutual TLS): both binaries get through with the right settings, and
//! query-api stays unready with wrong ones.

use std::time::Duration;

use common::secret::Secret;
use integration_tests::security::{NatsOperator, SecureNats, TestPki};

use super::{pipeline_serves, query_api_with, stays_unready};

const REFUSED: Duration = Duration::from_secs(4);

#[tokio::test]
async fn user_and_password() {
    let nats = SecureNats::with_user("ltp", "s3cret-nats-pass").await;
    let url = format!("nats://{}", nats.host_port);
    pipeline_serves(&url, |n| {
        n.user = "ltp".into();
        n.password = Secret::new("s3cret-nats-pass");
    })
    .await;
    let wrong = query_api_with(&url, |n| {
        n.user = "ltp".into();
        n.password = Secret::new("not-the-password");
    })
    .await;
    let body = stays_unready(&wrong, REFUSED).await;
    assert!(body.contains("nats"), "{body}");
    let anonymous = query_api_with(&url, |_| {}).await;
    stays_unready(&anonymous, REFUSED).await;
}

#[tokio::test]
async fn token() {
    let nats = SecureNats::with_token("s3cret-nats-token").await;
    let url = format!("nats://{}", nats.host_port);
    pipeline_serves(&url, |n| n.token = Secret::new("s3cret-nats-token")).await;
    let wrong = query_api_with(&url, |n| n.token = Secret::new("guessed-token")).await;
    stays_unready(&wrong, REFUSED).await;
}

#[tokio::test]
async fn credentials_file_with_nkey_and_jwt() {
    let operator = NatsOperator::generate();
    let nats = SecureNats::with_operator(&operator).await;
    let url = format!("nats://{}", nats.host_port);
    let creds = operator.credentials_file();
    pipeline_serves(&url, |n| n.credentials_file = Some(creds.clone())).await;
    // A well-formed user of another operator is refused.
    let foreign = operator.foreign_credentials_file();
    let wrong = query_api_with(&url, |n| n.credentials_file = Some(foreign.clone())).await;
    stays_unready(&wrong, REFUSED).await;
    let anonymous = query_api_with(&url, |_| {}).await;
    stays_unready(&anonymous, REFUSED).await;
}

#[tokio::test]
async fn tls_with_a_custom_ca() {
    let pki = TestPki::generate();
    let nats = SecureNats::with_tls(&pki, false).await;
    let url = format!("tls://{}", nats.host_port);
    let ca = pki.path("ca.pem");
    pipeline_serves(&url, |n| n.tls_ca_file = Some(ca.clone())).await;
    // The same server over nats:// with tls_required: TLS is negotiated after INFO.
    let plain_url = format!("nats://{}", nats.host_port);
    pipeline_serves(&plain_url, |n| {
        n.tls_ca_file = Some(ca.clone());
        n.tls_required = true;
    })
    .await;
    // Without the CA the server's certificate is not trusted: no connection.
    let untrusted = query_api_with(&url, |_| {}).await;
    stays_unready(&untrusted, REFUSED).await;
}

#[tokio::test]
async fn mutual_tls() {
    let pki = TestPki::generate();
    let nats = SecureNats::with_tls(&pki, true).await;
    let url = format!("tls://{}", nats.host_port);
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client-key.pem"),
    );
    pipeline_serves(&url, |n| {
        n.tls_ca_file = Some(ca.clone());
        n.tls_cert_file = Some(cert.clone());
        n.tls_key_file = Some(key.clone());
    })
    .await;
    // Trusting the server is not enough: the server wants our certificate.
    let no_client_cert = query_api_with(&url, |n| n.tls_ca_file = Some(ca.clone())).await;
    stays_unready(&no_client_cert, REFUSED).await;
}
