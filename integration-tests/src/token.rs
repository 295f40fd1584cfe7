//! A real (tiny) Docker token server, for registries configured with
//! `auth: token` (the Bearer flow Docker Hub uses).
//!
//! At start it generates a P-256 key and a self-signed CA certificate for it
//! ([`TokenServer::cert_bundle`] is the registry's `rootcertbundle`). `GET
//! /token?service=…&scope=repository:<name>:<actions>` answers a JWT signed
//! ES256 with the certificate in its `x5c` header, which is how docker-registry
//! 2.8 checks a token's signer. What a token grants follows the
//! [`TokenPolicy`]: valid `Basic` credentials get every action asked for; no
//! credentials get `pull` only if anonymous pulls are allowed (otherwise a
//! token granting nothing, as Docker Hub does, so the registry answers 401);
//! wrong credentials get a 401 from the token server itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::server::{HttpServer, Received, Reply};
use crate::var_tmpdir;

/// The registry's `auth.token.service` (the JWT audience).
pub const SERVICE: &str = "ferry-test-registry";
/// The registry's `auth.token.issuer` (the JWT issuer).
pub const ISSUER: &str = "ferry-test-token-issuer";
/// Lifetime of an issued token.
const TOKEN_TTL_SECS: u64 = 300;

/// Who gets what from a [`TokenServer`].
#[derive(Debug, Clone, Default)]
pub struct TokenPolicy {
    /// Grant `pull` to requests without credentials.
    pub anonymous_pull: bool,
    /// `(user, password)` accepted as `Basic` credentials (granted everything asked).
    pub credentials: Option<(String, String)>,
}

/// A running token server; see the module doc.
#[derive(Debug)]
pub struct TokenServer {
    server: HttpServer,
    signer: Arc<Signer>,
    dir: tempfile::TempDir,
}

struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    policy: TokenPolicy,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl TokenServer {
    /// Generates the signing key and certificate and starts serving `/token`.
    pub fn start(policy: TokenPolicy) -> TokenServer {
        let dir = var_tmpdir("ferry-token-");
        let (signer, cert_pem) = Signer::generate(policy);
        std::fs::write(dir.path().join("root.pem"), cert_pem).expect("write token root cert");
        let signer = Arc::new(signer);
        let handler_signer = Arc::clone(&signer);
        let server = HttpServer::start("127.0.0.1", move |req| handler_signer.handle(req));
        TokenServer {
            server,
            signer,
            dir,
        }
    }

    /// `http://127.0.0.1:PORT/token`: the registry's `auth.token.realm`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.addr())
    }

    /// PEM file holding the signer's certificate: the registry's `rootcertbundle`.
    pub fn cert_bundle(&self) -> PathBuf {
        self.dir.path().join("root.pem")
    }

    /// A token granting `actions` on `repository`, minted directly (for pushing fixtures).
    pub fn token(&self, repository: &str, actions: &[&str]) -> String {
        let access = vec![access_entry(repository, actions)];
        self.signer.jwt("ferry-test-pusher", &access)
    }

    /// `Bearer <token>` for [`TokenServer::token`].
    pub fn bearer(&self, repository: &str, actions: &[&str]) -> String {
        format!("Bearer {}", self.token(repository, actions))
    }

    /// Every `/token` request received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.server.requests()
    }
}

impl Signer {
    fn generate(policy: TokenPolicy) -> (Signer, String) {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("generate a P-256 key");
        let mut params = rcgen::CertificateParams::new(vec![ISSUER.to_owned()])
            .expect("certificate params for the token signer");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params
            .self_signed(&key_pair)
            .expect("self-sign the token signer's certificate");
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_pair.serialize_der())
                .expect("load the generated key for signing");
        let signer = Signer {
            key,
            cert_der: cert.der().to_vec(),
            policy,
        };
        (signer, cert.pem())
    }

    /// A compact JWS (ES256) over the registry's claim set.
    fn jwt(&self, subject: &str, access: &[Value]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after the epoch")
            .as_secs();
        let header =
            json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.cert_der)]});
        let claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + TOKEN_TTL_SECS,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("ferry-{now}-{}", access.len()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("ES256 signing");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    fn handle(&self, req: &Received) -> Reply {
        if req.path() != "/token" {
            return Reply::new(404, "not found");
        }
        let subject = match self.authenticate(req) {
            Ok(subject) => subject,
            Err(()) => {
                return Reply::new(401, r#"{"details":"incorrect username or password"}"#)
                    .header("Content-Type", "application/json")
            }
        };
        let access: Vec<Value> = req
            .query_values("scope")
            .iter()
            .filter_map(|scope| self.grant(scope, subject.is_some()))
            .collect();
        let token = self.jwt(subject.as_deref().unwrap_or(""), &access);
        Reply::json(&json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_TTL_SECS,
        }))
    }

    /// `Ok(Some(user))` for valid credentials, `Ok(None)` for none, `Err` for wrong ones.
    fn authenticate(&self, req: &Received) -> Result<Option<String>, ()> {
        let Some(value) = req.header("Authorization") else {
            return Ok(None);
        };
        let decoded = value
            .strip_prefix("Basic ")
            .and_then(|b64| STANDARD.decode(b64.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .ok_or(())?;
        let (user, pass) = decoded.split_once(':').ok_or(())?;
        match &self.policy.credentials {
            Some((u, p)) if u == user && p == pass => Ok(Some(user.to_owned())),
            _ => Err(()),
        }
    }

    /// The access entry granted for one `repository:<name>:<actions>` scope.
    fn grant(&self, scope: &str, authenticated: bool) -> Option<Value> {
        let (rest, actions) = scope.rsplit_once(':')?;
        let (kind, name) = rest.split_once(':')?;
        if kind != "repository" {
            return None;
        }
        let asked: Vec<&str> = actions.split(',').collect();
        let granted: Vec<&str> = if authenticated {
            asked
        } else if self.policy.anonymous_pull && asked.contains(&"pull") {
            vec!["pull"]
        } else {
            return None;
        };
        Some(access_entry(name, &granted))
    }
}

fn access_entry(repository: &str, actions: &[&str]) -> Value {
    json!({"type": "repository", "name": repository, "actions": actions})
}
