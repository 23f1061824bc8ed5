//! Fixtures for the security tests: a throwaway PKI (CA, server and client certificates made
//! with rcgen), a NATS operator/account/user set (NKeys and JWTs signed here, the way `nsc`
//! makes them), and NATS and Redis containers that require authentication or TLS.
//!
//! Everything is generated per test run: no key or certificate is checked in, and none is
//! valid anywhere else. Files the servers need are copied into their containers; files the
//! clients need are written to a temporary directory that is removed with the fixture.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use testcontainers_modules::testcontainers::core::WaitFor;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage};

use crate::containers;

/// A CA and one server and one client certificate it signed, PEM encoded.
pub struct TestPki {
    /// The CA certificate clients and servers are told to trust.
    pub ca_pem: String,
    /// Server certificate for `localhost` and `127.0.0.1`.
    pub server_cert_pem: String,
    /// Its private key.
    pub server_key_pem: String,
    /// Client certificate (for mutual TLS).
    pub client_cert_pem: String,
    /// Its private key.
    pub client_key_pem: String,
    dir: tempfile::TempDir,
}

impl TestPki {
    /// Generates the CA and both certificates, and writes the client's files
    /// ([`Self::path`]: `ca.pem`, `client.pem`, `client-key.pem`).
    pub fn generate() -> TestPki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ltp test CA (test only)");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let mut params = CertificateParams::new(names).expect("leaf params");
            params.distinguished_name.push(DnType::CommonName, cn);
            let key = KeyPair::generate().expect("leaf key");
            let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert_pem, server_key_pem) = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            "ltp test server",
        );
        let (client_cert_pem, client_key_pem) = leaf(vec!["ltp-client".into()], "ltp-client");
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = TestPki {
            ca_pem: ca_cert.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
            dir,
        };
        pki.write("ca.pem", &pki.ca_pem);
        pki.write("client.pem", &pki.client_cert_pem);
        pki.write("client-key.pem", &pki.client_key_pem);
        pki
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("write a PKI file");
    }

    /// Path of a client-side file: `ca.pem`, `client.pem` or `client-key.pem`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The files a server needs, for copying into a container under `dir`: `ca.pem`,
    /// `server.pem`, `server-key.pem`.
    pub fn server_files(&self, dir: &str) -> Vec<(String, Vec<u8>)> {
        [
            ("ca.pem", &self.ca_pem),
            ("server.pem", &self.server_cert_pem),
            ("server-key.pem", &self.server_key_pem),
        ]
        .into_iter()
        .map(|(name, text)| (format!("{dir}/{name}"), text.as_bytes().to_vec()))
        .collect()
    }
}

/// A NATS operator, one account and one user, as `nsc` would create them: NKeys and JWTs
/// (v2, `ed25519-nkey`), a server configuration trusting the operator, and the user's
/// credentials file.
pub struct NatsOperator {
    operator_jwt: String,
    account_public: String,
    account_jwt: String,
    user_jwt: String,
    user_seed: String,
    dir: tempfile::TempDir,
}

impl NatsOperator {
    /// Generates the keys and signs the JWTs.
    pub fn generate() -> NatsOperator {
        let operator = nkeys::KeyPair::new_operator();
        let account = nkeys::KeyPair::new_account();
        let user = nkeys::KeyPair::new_user();
        let operator_jwt = jwt(
            &operator,
            &operator.public_key(),
            "ltp-test-operator",
            serde_json::json!({"type": "operator", "version": 2}),
        );
        let account_jwt = jwt(
            &operator,
            &account.public_key(),
            "ltp-test-account",
            serde_json::json!({
                "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                           "exports": -1, "wildcards": true, "conn": -1, "leaf": -1},
                "default_permissions": {"pub": {}, "sub": {}},
                "type": "account", "version": 2
            }),
        );
        let user_jwt = jwt(
            &account,
            &user.public_key(),
            "ltp-test-user",
            serde_json::json!({
                "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2
            }),
        );
        NatsOperator {
            operator_jwt,
            account_public: account.public_key(),
            account_jwt,
            user_jwt,
            user_seed: user.seed().expect("user seed"),
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// `nats-server -c` configuration: operator mode with the account preloaded in memory.
    pub fn server_config(&self) -> String {
        format!(
            "port: 4222\noperator: \"{}\"\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{}\"\n}}\n",
            self.operator_jwt, self.account_public, self.account_jwt
        )
    }

    /// The user's seed, which must never appear in any output.
    pub fn user_seed(&self) -> &str {
        &self.user_seed
    }

    /// The user's credentials file (JWT and NKey seed), written once; its path.
    pub fn credentials_file(&self) -> PathBuf {
        let path = self.dir.path().join("user.creds");
        if !path.exists() {
            let text = format!(
                "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
                 ************************* IMPORTANT *************************\n\
                 NKEY Seed printed below can be used to sign and prove identity.\n\
                 NKEYs are sensitive and should be treated as secrets.\n\n\
                 -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
                 *************************************************************\n",
                self.user_jwt, self.user_seed
            );
            std::fs::write(&path, text).expect("write the credentials file");
        }
        path
    }

    /// A credentials file for a user the server does not know (signed by another account).
    pub fn foreign_credentials_file(&self) -> PathBuf {
        let other = NatsOperator::generate();
        let path = self.dir.path().join("foreign.creds");
        std::fs::copy(other.credentials_file(), &path).expect("copy foreign credentials");
        path
    }
}

/// A JWT as the NATS tools write it: `typ` JWT, `alg` ed25519-nkey, signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "jti": crate::unique_id().to_uppercase(),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let signature = issuer.sign(signing_input.as_bytes()).expect("sign JWT");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A NATS server started with extra arguments and files; removed when dropped.
pub struct SecureNats {
    /// Host and port, `127.0.0.1:<port>` (prefix with `nats://` or `tls://`).
    pub host_port: String,
    _container: ContainerAsync<GenericImage>,
}

impl SecureNats {
    /// `nats-server` (core NATS, no JetStream) with `args` and `files` copied in first.
    pub async fn start(args: &[&str], files: Vec<(String, Vec<u8>)>) -> SecureNats {
        let mut cmd = vec!["-p".to_owned(), "4222".to_owned()];
        cmd.extend(args.iter().map(|a| (*a).to_owned()));
        let (container, port) = containers::start_with_files(
            "LTP_TEST_NATS_IMAGE",
            "ltp-nats:test",
            4222,
            WaitFor::message_on_stderr("Server is ready"),
            cmd,
            files,
        )
        .await;
        SecureNats {
            host_port: format!("127.0.0.1:{port}"),
            _container: container,
        }
    }

    /// Requires `--user`/`--pass`.
    pub async fn with_user(user: &str, password: &str) -> SecureNats {
        Self::start(&["--user", user, "--pass", password], Vec::new()).await
    }

    /// Requires `--auth <token>`.
    pub async fn with_token(token: &str) -> SecureNats {
        Self::start(&["--auth", token], Vec::new()).await
    }

    /// Operator mode: only users with a JWT signed by `operator`'s account get in.
    pub async fn with_operator(operator: &NatsOperator) -> SecureNats {
        let files = vec![(
            "/etc/ltp-test/nats.conf".to_owned(),
            operator.server_config().into_bytes(),
        )];
        Self::start(&["-c", "/etc/ltp-test/nats.conf"], files).await
    }

    /// TLS required, with `pki`'s server certificate; with `verify`, clients must present a
    /// certificate signed by the CA (mutual TLS).
    pub async fn with_tls(pki: &TestPki, verify: bool) -> SecureNats {
        let mut args = vec![
            "--tls",
            "--tlscert",
            "/etc/ltp-test/server.pem",
            "--tlskey",
            "/etc/ltp-test/server-key.pem",
        ];
        if verify {
            args.extend(["--tlsverify", "--tlscacert", "/etc/ltp-test/ca.pem"]);
        }
        Self::start(&args, pki.server_files("/etc/ltp-test")).await
    }
}

/// A Redis server started with extra arguments and files; removed when dropped.
pub struct SecureRedis {
    /// `127.0.0.1:<port>`, as `REDIS_ADDR` takes it.
    pub addr: String,
    _container: ContainerAsync<GenericImage>,
}

impl SecureRedis {
    /// `redis-server` without persistence, with `args` and `files` copied in first.
    pub async fn start(args: &[&str], files: Vec<(String, Vec<u8>)>) -> SecureRedis {
        let cmd = crate::redis::server_command(args);
        let (container, port) = containers::start_with_files(
            "LTP_TEST_REDIS_IMAGE",
            "ltp-redis:test",
            6379,
            WaitFor::message_on_stdout("Ready to accept connections"),
            cmd,
            files,
        )
        .await;
        SecureRedis {
            addr: format!("127.0.0.1:{port}"),
            _container: container,
        }
    }

    /// TLS only (no plain port), with `pki`'s server certificate; clients need no certificate.
    pub async fn with_tls(pki: &TestPki, extra: &[&str]) -> SecureRedis {
        let mut args = vec![
            "--port",
            "0",
            "--tls-port",
            "6379",
            "--tls-cert-file",
            "/etc/ltp-test/server.pem",
            "--tls-key-file",
            "/etc/ltp-test/server-key.pem",
            "--tls-ca-cert-file",
            "/etc/ltp-test/ca.pem",
            "--tls-auth-clients",
            "no",
        ];
        args.extend_from_slice(extra);
        Self::start(&args, pki.server_files("/etc/ltp-test")).await
    }
}

/// Every occurrence of any of `secrets` in `text`, as `(secret index, byte offset)`; empty
/// secrets are skipped. For asserting that output never contains a credential.
pub fn leaks(text: &str, secrets: &[&str]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        if secret.is_empty() {
            continue;
        }
        found.extend(text.match_indices(secret).map(|(at, _)| (i, at)));
    }
    found
}
