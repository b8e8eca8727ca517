//! NATS with real credentials: a `nats-server` configured for nkeys, a
//! token, TLS client certificates and accounts (`.creds` files), and weld's
//! hosts presenting what their manifests name — files and environment
//! variables, never a secret in the manifest.

use crate::common::{greet, greet_manifest, nats, runtime, serve};
use std::path::{Path, PathBuf};
use weld_fixtures::nats::NatsServer;
use weld_linker::serve::{ServeOptions, Server};
use weld_linker::Deployment;

/// Writes `text` to `dir/name`, readable by its owner only.
fn private(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `greet-caller` on host `a` calling `greet` on host `b` over NATS at
/// `url` (a 2 s timeout, so a call the broker drops ends soon), with
/// `b_extra` and `a_extra` in the hosts' tables.
fn manifest(dir: &Path, url: &str, b_extra: &str, a_extra: &str) -> PathBuf {
    greet_manifest(
        dir,
        &format!("{}\n{b_extra}\n[hosts.a]\n{a_extra}", nats(url, "b")),
        "timeout-ms = 2000",
        "",
    )
}

/// A configured broker whose configuration is `config`, written in `dir`.
fn broker(dir: &Path, config: &str) -> NatsServer {
    let path = dir.join("nats.conf");
    std::fs::write(&path, config).unwrap();
    NatsServer::start_configured(&path)
}

/// Why `host` of `manifest` cannot serve (it must not).
fn serve_error(manifest: &Path, host: &str) -> String {
    let deployment = Deployment::load(manifest).unwrap();
    match Server::new(&deployment, ServeOptions::new(host)).and_then(Server::spawn) {
        Ok(server) => {
            let _ = server.stop();
            panic!("host `{host}` served");
        }
        Err(e) => weld_linker::diagnostic::chain(&e),
    }
}

#[test]
fn hosts_present_their_nkeys_and_the_broker_enforces_its_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let key = |name: &str| {
        let pair = nkeys::KeyPair::new_user();
        private(dir.path(), name, &pair.seed().unwrap());
        pair.public_key()
    };
    let (b, a, stranger) = (key("b.nk"), key("a.nk"), key("stranger.nk"));
    // The stranger may connect, but not publish invocations to host `b`.
    let broker = broker(
        dir.path(),
        &format!(
            "authorization {{ users = [\n\
               {{ nkey: \"{b}\" }}\n\
               {{ nkey: \"{a}\" }}\n\
               {{ nkey: \"{stranger}\", permissions: {{ publish: {{ deny: [\"b.>\"] }} }} }}\n\
             ] }}\n"
        ),
    );
    let m = manifest(
        dir.path(),
        broker.url(),
        "nats = { nkey = \"b.nk\" }",
        "nats = { nkey = \"a.nk\" }",
    );
    let server = serve(&m, "b");
    assert_eq!(greet(&runtime(&m, "a"), "nkey"), "ok: hello, nkey");

    // A caller without permission to publish on `b`'s subjects: the broker
    // refuses it, and the guest gets its error value.
    let sub = dir.path().join("stranger");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(dir.path().join("b.nk"), sub.join("b.nk")).unwrap();
    std::fs::copy(dir.path().join("stranger.nk"), sub.join("a.nk")).unwrap();
    let refused = manifest(
        &sub,
        broker.url(),
        "nats = { nkey = \"b.nk\" }",
        "nats = { nkey = \"a.nk\" }",
    );
    let seen = greet(&runtime(&refused, "a"), "stranger");
    assert!(seen.starts_with("error: "), "{seen}");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (1, 0), "{stats:?}");

    // A host that names no credentials cannot even connect.
    let anonymous = manifest(&dir.path().join("stranger"), broker.url(), "", "");
    let why = serve_error(&anonymous, "b");
    assert!(why.contains("cannot serve on nats://"), "{why}");
    assert!(why.to_lowercase().contains("authorization"), "{why}");
}

#[test]
fn a_token_is_read_from_the_environment_when_the_host_starts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path(), "authorization { token: \"t0ken-for-weld\" }\n");
    let var = "WELD_TEST_NATS_TOKEN_A_TOKEN_IS_READ";
    let m = manifest(
        dir.path(),
        broker.url(),
        &format!("nats = {{ token-env = \"{var}\" }}"),
        &format!("nats = {{ token-env = \"{var}\" }}"),
    );
    // The manifest plans without the variable; the host cannot start
    // without it, and says which variable.
    let why = serve_error(&m, "b");
    assert!(why.contains(&format!("`{var}`")), "{why}");
    assert!(why.contains("is not set"), "{why}");
    // A wrong token is refused by the broker.
    // SAFETY: the variable is this test's own; no other thread reads it.
    unsafe { std::env::set_var(var, "wrong") };
    let why = serve_error(&m, "b");
    assert!(why.to_lowercase().contains("authorization"), "{why}");
    // SAFETY: as above.
    unsafe { std::env::set_var(var, "t0ken-for-weld") };
    let server = serve(&m, "b");
    assert_eq!(greet(&runtime(&m, "a"), "token"), "ok: hello, token");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (1, 0), "{stats:?}");
    // The token is nowhere in the manifest or the plan.
    let plan = serde_json::to_string(&Deployment::load(&m).unwrap().plan).unwrap();
    assert!(!plan.contains("t0ken-for-weld"));
    assert!(!std::fs::read_to_string(&m)
        .unwrap()
        .contains("t0ken-for-weld"));
}

#[test]
fn hosts_present_their_tls_identity_to_a_broker_that_verifies_clients() {
    let dir = tempfile::tempdir().unwrap();
    weld_fixtures::tls::identities(dir.path(), "ca", &["a", "b", "broker"]);
    let broker = broker(
        dir.path(),
        &format!(
            "tls {{\n cert_file: \"{0}/broker.pem\"\n key_file: \"{0}/broker.key\"\n \
             ca_file: \"{0}/ca.pem\"\n verify: true\n timeout: 2\n}}\n",
            dir.path().display()
        ),
    );
    let url = format!("tls://127.0.0.1:{}", broker.port());
    let tls = |host: &str| {
        format!(
            "tls = {{ cert = \"{host}.pem\", key = \"{host}.key\", ca = \"ca.pem\" }}\nnats = {{ tls = true }}"
        )
    };
    let m = manifest(dir.path(), &url, &tls("b"), &tls("a"));
    let server = serve(&m, "b");
    assert_eq!(greet(&runtime(&m, "a"), "mtls"), "ok: hello, mtls");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (1, 0), "{stats:?}");

    // A host with no certificate to present is refused in the handshake;
    // one with an identity it does not ask to present (no `tls = true`)
    // keeps the client's default roots, which do not know the test's CA.
    let without = manifest(dir.path(), &url, "", "");
    let why = serve_error(&without, "b");
    assert!(why.contains("cannot serve on tls://"), "{why}");
    let unasked = tls("b").replace("\nnats = { tls = true }", "");
    let why = serve_error(&manifest(dir.path(), &url, &unasked, ""), "b");
    assert!(why.contains("cannot serve on tls://"), "{why}");
}

#[test]
fn a_url_with_a_secret_is_refused_without_repeating_it() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "nats://weld:pa55word@127.0.0.1:4222", "", "");
    let e = match Deployment::load(&m) {
        Ok(_) => panic!("planned"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("carries credentials"), "{e}");
    assert!(e.contains("nats = { creds"), "{e}");
    assert!(!e.contains("pa55word"), "{e}");
}

/// A NATS JWT: `claims` (with `iss`, `sub`, `iat` and `jti` added)
/// signed by `issuer`, as nats-server verifies them.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    use data_encoding::BASE64URL_NOPAD;
    let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = serde_json::json!({
        "jti": format!("WELDTEST{}", subject.get(..20).unwrap_or(subject)),
        "iat": 1_700_000_000u64,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let claims = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
    let signed = format!("{header}.{claims}");
    let signature = BASE64URL_NOPAD.encode(&issuer.sign(signed.as_bytes()).unwrap());
    format!("{signed}.{signature}")
}

/// The `.creds` text of a user: its JWT and its seed.
fn creds(user_jwt: &str, user: &nkeys::KeyPair) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    )
}

#[test]
fn hosts_present_creds_files_to_a_broker_with_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let unlimited = serde_json::json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1
    });
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "weld-test",
        serde_json::json!({ "type": "operator", "version": 2 }),
    );
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "weld",
        serde_json::json!({ "limits": unlimited, "type": "account", "version": 2 }),
    );
    let user = |file: &str, permissions: serde_json::Value| {
        let key = nkeys::KeyPair::new_user();
        let mut nats = serde_json::json!({
            "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2
        });
        nats.as_object_mut()
            .unwrap()
            .extend(permissions.as_object().unwrap().clone());
        let token = jwt(&account, &key.public_key(), file, nats);
        private(dir.path(), file, &creds(&token, &key));
    };
    user("b.creds", serde_json::json!({}));
    user("a.creds", serde_json::json!({}));
    // Signed by the account, but barred from publishing to host `b`.
    user(
        "stranger.creds",
        serde_json::json!({ "pub": { "deny": ["b.>"] } }),
    );
    let broker = broker(
        dir.path(),
        &format!(
            "operator: \"{operator_jwt}\"\nresolver: MEMORY\n\
             resolver_preload: {{\n  {}: \"{account_jwt}\"\n}}\n",
            account.public_key()
        ),
    );
    let m = manifest(
        dir.path(),
        broker.url(),
        "nats = { creds = \"b.creds\" }",
        "nats = { creds = \"a.creds\" }",
    );
    let server = serve(&m, "b");
    assert_eq!(greet(&runtime(&m, "a"), "creds"), "ok: hello, creds");
    let barred = manifest(
        dir.path(),
        broker.url(),
        "nats = { creds = \"b.creds\" }",
        "nats = { creds = \"stranger.creds\" }",
    );
    let seen = greet(&runtime(&barred, "a"), "barred");
    assert!(seen.starts_with("error: "), "{seen}");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (1, 0), "{stats:?}");
    // A creds file others may read is refused before anything connects
    // (`barred` and `m` are one file: the caller's is `stranger.creds`).
    std::fs::set_permissions(
        dir.path().join("stranger.creds"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let e = match Deployment::load(&m) {
        Ok(_) => panic!("planned"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("can be read by others (mode 644)"), "{e}");
}
