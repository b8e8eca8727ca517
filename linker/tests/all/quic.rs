//! wRPC over QUIC with mutual TLS: identities made at test time (a CA and
//! one certificate per host, rcgen), `weld serve` on a real UDP socket,
//! and callers that present their host's certificate. A caller without a
//! certificate the CA signed is refused during the handshake; files that
//! cannot be an identity are refused at plan time.

use crate::common::{free_port, greet, greet_manifest, runtime, serve};
use std::path::Path;
use weld_fixtures::tls::{identities, identities_for, identities_made};
use weld_linker::input::InputLimits;
use weld_linker::plan::Callers;
use weld_linker::serve::{Cause, FailedCall, FailureHook, ServeOptions, Server};
use weld_linker::{Deployment, DiagnosticKind, PlanOptions};

/// What follows `wrpc = ` under `[hosts.b]` in the test manifests (which
/// end with that table) for host `b` on QUIC at `port` with its identity,
/// and host `a` with `a_tls`.
fn endpoint_with(port: u16, a_tls: &str) -> String {
    format!(
        "{{ transport = \"quic\", address = \"127.0.0.1:{port}\" }}\n\
         tls = {{ cert = \"b.pem\", key = \"b.key\", ca = \"ca.pem\" }}\n\
         [hosts.a]\n{a_tls}"
    )
}

/// [`endpoint_with`] host `a`'s own identity (`a.pem`, `a.key`).
pub(crate) fn endpoint(port: u16) -> String {
    endpoint_with(port, A_TLS)
}

/// `greet-caller` on host `a` calling `greet` on host `b` over QUIC, host
/// `a` with `a_tls`.
fn quic_manifest(dir: &Path, port: u16, a_tls: &str) -> std::path::PathBuf {
    greet_manifest(dir, &endpoint_with(port, a_tls), "", "")
}

const A_TLS: &str = "tls = { cert = \"a.pem\", key = \"a.key\", ca = \"ca.pem\" }";

#[test]
fn greet_over_quic_with_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    identities(dir.path(), "ca", &["a", "b"]);
    let m = quic_manifest(dir.path(), free_port(), A_TLS);
    let server = serve(&m, "b");
    let rt = runtime(&m, "a");
    for i in 0..20 {
        assert_eq!(
            greet(&rt, &format!("quic {i}")),
            format!("ok: hello, quic {i}")
        );
    }
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (20, 0));
}

#[test]
fn a_caller_the_servers_ca_did_not_sign_is_refused_in_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    identities(dir.path(), "ca", &["b"]);
    // Host `a` has a certificate of another CA (which it also trusts, so
    // that only the server's check can refuse it).
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    identities(&other, "ca", &["a"]);
    std::fs::copy(dir.path().join("ca.pem"), other.join("server-ca.pem")).unwrap();
    let bundle = [
        std::fs::read_to_string(other.join("ca.pem")).unwrap(),
        std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(other.join("both.pem"), bundle).unwrap();
    let a_tls = "tls = { cert = \"other/a.pem\", key = \"other/a.key\", ca = \"other/both.pem\" }";
    let m = quic_manifest(dir.path(), free_port(), a_tls);
    let (server, failures) = serve_watched(&m, "b");
    let rt = runtime(&m, "a");
    let seen = greet(&rt, "intruder");
    assert!(seen.starts_with("error: "), "{seen}");
    // TLS 1.3: the client's side of the handshake ends first, and the
    // server's refusal of its certificate closes the connection.
    assert!(seen.contains("quic://127.0.0.1:"), "{seen}");
    assert!(seen.contains("invalid peer certificate"), "{seen}");
    let stats = server.stop().unwrap();
    // Refused before any call: nothing reached the component.
    assert_eq!((stats.answered, stats.failed), (0, 0));
    // The server counted and logged the refusal, with rustls's reason.
    assert!(stats.refused >= 1, "{stats:?}");
    let logged = refusals(&failures, Cause::Refused);
    assert!(logged.contains("the handshake failed"), "{logged}");
    // The other CA has the same name, so rustls finds the issuer and
    // refuses its signature.
    assert!(logged.contains("invalid peer certificate"), "{logged}");
}

#[test]
fn the_server_certificate_is_checked_for_its_address_or_its_server_name() {
    let dir = tempfile::tempdir().unwrap();
    // Host `b`'s certificate names `b.weld.test` only, not 127.0.0.1.
    identities_for(dir.path(), "ca", &["a", "b"], false);
    let port = free_port();
    let named = endpoint(port).replacen("\" }", "\", server-name = \"b.weld.test\" }", 1);
    let m = greet_manifest(dir.path(), &named, "", "");
    let server = serve(&m, "b");
    assert_eq!(greet(&runtime(&m, "a"), "named"), "ok: hello, named");
    server.stop().unwrap();

    // By address alone the certificate does not match: refused by the
    // caller, before any call is sent.
    let m = greet_manifest(dir.path(), &endpoint(port), "", "");
    let server = serve(&m, "b");
    let seen = greet(&runtime(&m, "a"), "by address");
    assert!(
        seen.contains("cannot connect to quic://127.0.0.1:"),
        "{seen}"
    );
    assert!(seen.contains("certificate"), "{seen}");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (0, 0));
}

fn plan_errors(manifest: &Path) -> Vec<(DiagnosticKind, String)> {
    match Deployment::open(
        &[manifest.to_path_buf()],
        &PlanOptions::default(),
        &InputLimits::default(),
    ) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.into_iter().map(|e| (e.kind, e.message)).collect(),
    }
}

#[test]
fn identities_that_cannot_be_used_are_refused_at_plan_time() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    identities(dir.path(), "ca", &["a", "b"]);
    let port = free_port();
    let identity_errors = |a_tls: &str| -> Vec<String> {
        plan_errors(&quic_manifest(dir.path(), port, a_tls))
            .into_iter()
            .filter(|(k, _)| *k == DiagnosticKind::Identity)
            .map(|(_, m)| m)
            .collect()
    };
    assert_eq!(identity_errors(A_TLS), Vec::<String>::new());

    // A calling host without an identity cannot call over QUIC.
    let e = identity_errors("");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("is reached over QUIC, which needs the calling host `a`'s TLS identity"),
        "{e:?}"
    );

    // A key others may read.
    std::fs::set_permissions(
        dir.path().join("a.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let e = identity_errors(A_TLS);
    assert!(
        e.iter()
            .any(|m| m.contains("can be read by others (mode 644)")),
        "{e:?}"
    );
    std::fs::set_permissions(
        dir.path().join("a.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    // A FIFO where the certificate should be: refused without blocking.
    let fifo = dir.path().join("fifo.pem");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let e = identity_errors("tls = { cert = \"fifo.pem\", key = \"a.key\", ca = \"ca.pem\" }");
    assert!(
        e.iter()
            .any(|m| m.contains("is a FIFO, not a regular file")),
        "{e:?}"
    );

    // A missing file, and one that holds no certificate.
    let e = identity_errors("tls = { cert = \"missing.pem\", key = \"a.key\", ca = \"ca.pem\" }");
    assert!(e.iter().any(|m| m.contains("cannot read")), "{e:?}");
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    let e = identity_errors("tls = { cert = \"empty.pem\", key = \"a.key\", ca = \"ca.pem\" }");
    assert!(
        e.iter()
            .any(|m| m.contains("holds no readable certificate")),
        "{e:?}"
    );

    // A QUIC host without an identity.
    let m = greet_manifest(
        dir.path(),
        &format!("{{ transport = \"quic\", address = \"127.0.0.1:{port}\" }}\n[hosts.a]\n{A_TLS}"),
        "",
        "",
    );
    let e: Vec<_> = plan_errors(&m).into_iter().map(|(_, m)| m).collect();
    assert!(
        e.iter()
            .any(|m| m
                .contains("host `b` serves wRPC over QUIC, which needs the host's TLS identity")),
        "{e:?}"
    );
}

/// `weld serve` for `host` of `manifest`, every failed call and refused
/// connection collected.
fn serve_watched(
    manifest: &Path,
    host: &str,
) -> (
    weld_linker::serve::Background,
    std::sync::Arc<std::sync::Mutex<Vec<FailedCall>>>,
) {
    let deployment = Deployment::load(manifest).unwrap();
    let mut options = ServeOptions::new(host);
    let failures = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&failures);
    options.on_failure = Some(FailureHook::new(move |f| {
        seen.lock().unwrap().push(f.clone());
    }));
    let server = Server::new(&deployment, options).unwrap().spawn().unwrap();
    (server, failures)
}

/// The refusals the server logged, as one text to search.
fn refusals(failures: &std::sync::Mutex<Vec<FailedCall>>, cause: Cause) -> String {
    failures
        .lock()
        .unwrap()
        .iter()
        .filter(|f| f.cause == cause)
        .map(|f| format!("{}\n", f.message))
        .collect()
}

#[test]
fn an_expired_certificate_or_none_is_refused_in_the_handshake_and_the_reason_logged() {
    let dir = tempfile::tempdir().unwrap();
    // Host `a`'s certificate, signed by the server's CA, expired in 2021.
    identities_made(dir.path(), "ca", &["a", "b"], true, |host, params| {
        if host == "a" {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
    });
    let port = free_port();
    let m = quic_manifest(dir.path(), port, A_TLS);
    let (server, failures) = serve_watched(&m, "b");
    let seen = greet(&runtime(&m, "a"), "expired");
    assert!(seen.starts_with("error: "), "{seen}");
    // A caller with no certificate at all (weld's callers always present
    // one): a raw QUIC client that trusts the server.
    let none = no_certificate_call(dir.path(), port);
    assert!(none.is_err(), "{none:?}");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (0, 0));
    // The expired caller may try twice (a stream that cannot be opened is
    // retried once on a new connection).
    assert!((2..=3).contains(&stats.refused), "{stats:?}");
    let logged = refusals(&failures, Cause::Refused);
    assert!(logged.contains("the handshake failed"), "{logged}");
    assert!(logged.to_lowercase().contains("expired"), "{logged}");
    assert!(logged.contains("no certificates"), "{logged}");
}

/// A QUIC connection to `127.0.0.1:port` by a raw client trusting the
/// CAs in `ca` and presenting `client` (certificate and key files), or no
/// certificate.
async fn raw_connect(
    ca: &Path,
    port: u16,
    client: Option<(&Path, &Path)>,
) -> Result<quinn::Connection, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let tls = match client {
        None => tls.with_no_client_auth(),
        Some((cert, key)) => tls
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
    };
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(crypto)));
    endpoint
        .connect(format!("127.0.0.1:{port}").parse().unwrap(), "localhost")
        .unwrap()
        .await
        .map_err(|e| e.to_string())
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Opens a QUIC connection to `127.0.0.1:port` without a client
/// certificate and sends a call's header on a stream; what the server did.
fn no_certificate_call(dir: &Path, port: u16) -> Result<Vec<u8>, String> {
    block_on(async {
        let conn = raw_connect(&dir.join("ca.pem"), port, None).await?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        // wRPC's header: a version byte, then the instance and function.
        let mut header = vec![0u8];
        for name in ["demo:greet/greeter@0.1.0", "greet"] {
            header.push(u8::try_from(name.len()).unwrap());
            header.extend_from_slice(name.as_bytes());
        }
        send.write_all(&header).await.map_err(|e| e.to_string())?;
        let _ = send.finish();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), recv.read_to_end(1 << 16))
                .await
                .map_err(|_| "no answer within 5 s".to_string())?;
        read.map_err(|e| e.to_string())
    })
}

/// The identity the server at `port` presents to a new connection.
fn presented(dir: &Path, port: u16) -> String {
    block_on(async {
        let conn = raw_connect(
            &dir.join("trusted.pem"),
            port,
            Some((&dir.join("a.pem"), &dir.join("a.key"))),
        )
        .await
        .unwrap();
        let id = weld_linker::wrpc::tls::peer_identity(&conn).unwrap();
        conn.close(0u32.into(), b"");
        id
    })
}

/// Replaces `dir/name` with `from` as certificate tools do: a new file
/// renamed over the old one.
fn replace(dir: &Path, name: &str, from: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = dir.join(format!(".{name}.new"));
    std::fs::copy(from, &tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[test]
fn a_changed_certificate_is_used_for_new_connections_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    identities(dir.path(), "ca", &["a", "b"]);
    // The next certificate of `b`, from a CA of its own that callers
    // trust too; `b` keeps trusting its callers' CA.
    let next = dir.path().join("next");
    std::fs::create_dir(&next).unwrap();
    identities_made(&next, "ca", &["b"], true, |_, params| {
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://weld.test/host/b-next".try_into().unwrap(),
        ));
        params.subject_alt_names.retain(
            |n| !matches!(n, rcgen::SanType::URI(u) if u.as_str() == "spiffe://weld.test/host/b"),
        );
    });
    let trusted = [
        std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
        std::fs::read_to_string(next.join("ca.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.path().join("trusted.pem"), trusted).unwrap();
    let port = free_port();
    let m = quic_manifest(dir.path(), port, A_TLS);
    let deployment = Deployment::load(&m).unwrap();
    let mut options = ServeOptions::new("b");
    let reload = weld_linker::serve::Reload::new();
    options.reload = Some(reload.clone());
    let server = Server::new(&deployment, options).unwrap().spawn().unwrap();
    let rt = runtime(&m, "a");
    assert_eq!(greet(&rt, "before"), "ok: hello, before");
    assert_eq!(presented(dir.path(), port), "spiffe://weld.test/host/b");

    // A key others may read is not taken: the identity in use stays.
    std::fs::copy(next.join("b.key"), dir.path().join("exposed.key")).unwrap();
    let exposed = dir.path().join("b.key");
    replace(dir.path(), "b.key", &dir.path().join("exposed.key"));
    std::fs::set_permissions(
        &exposed,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    replace(dir.path(), "b.pem", &next.join("b.pem"));
    reload.now();
    std::thread::sleep(weld_linker::serve::RELOAD_POLL * 3);
    assert_eq!(presented(dir.path(), port), "spiffe://weld.test/host/b");

    // Made private, it is taken at the next look, without a signal.
    std::fs::set_permissions(
        &exposed,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while presented(dir.path(), port) != "spiffe://weld.test/host/b-next" {
        assert!(
            std::time::Instant::now() < until,
            "the new identity was not taken"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The caller's open connection keeps the identity it was made with;
    // a new caller that trusts only the old CA no longer connects.
    assert_eq!(greet(&rt, "open"), "ok: hello, open");
    let seen = greet(&runtime(&m, "a"), "new");
    assert!(seen.starts_with("error: "), "{seen}");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (2, 0), "{stats:?}");
}

/// The server of callers-naming manifests: `greet-caller` on host `a`
/// linked to `greet` on host `b`, which also exposes the interface to
/// `ops` alone.
fn authorizing_manifest(dir: &Path, port: u16) -> std::path::PathBuf {
    let b = format!(
        "{{ transport = \"quic\", address = \"127.0.0.1:{port}\" }}\n\
         tls = {{ cert = \"b.pem\", key = \"b.key\", ca = \"ca.pem\" }}\n\
         expose = [{{ interface = \"greet:demo:greet/greeter@0.1.0\", callers = [\"spiffe://weld.test/host/ops\"] }}]\n\
         [hosts.a]\n{A_TLS}"
    );
    greet_manifest(dir, &b, "", "")
}

/// A caller's own manifest: `greet-caller` on `host` (with its identity)
/// calling host `b` at `port`, as a deployment outside the server's would.
fn outside_caller(dir: &Path, port: u16, host: &str) -> std::path::PathBuf {
    let sub = dir.join(host);
    std::fs::create_dir_all(&sub).unwrap();
    // Every host of a manifest names its identity, the server `b` too
    // (a deployment that only calls it would name it a provider).
    for f in [
        "ca.pem",
        "b.pem",
        "b.key",
        &format!("{host}.pem"),
        &format!("{host}.key"),
    ] {
        std::fs::copy(dir.join(f), sub.join(f)).unwrap();
    }
    let b = format!(
        "{{ transport = \"quic\", address = \"127.0.0.1:{port}\" }}\n\
         tls = {{ cert = \"b.pem\", key = \"b.key\", ca = \"ca.pem\" }}\n\
         [hosts.{host}]\n\
         tls = {{ cert = \"{host}.pem\", key = \"{host}.key\", ca = \"ca.pem\" }}"
    );
    let m = greet_manifest(&sub, &b, "", "");
    let toml = std::fs::read_to_string(&m).unwrap().replacen(
        "host = \"a\"",
        &format!("host = \"{host}\""),
        1,
    );
    std::fs::write(&m, toml).unwrap();
    m
}

#[test]
fn only_the_callers_an_exposed_interface_names_and_the_linking_hosts_may_call_it() {
    let dir = tempfile::tempdir().unwrap();
    identities(dir.path(), "ca", &["a", "b", "ops", "c"]);
    let port = free_port();
    let m = authorizing_manifest(dir.path(), port);
    // The plan says who may call: the host whose link calls it, and the
    // caller the entry names.
    let deployment = Deployment::load(&m).unwrap();
    let allowed = Callers::Only(vec![
        "spiffe://weld.test/host/a".into(),
        "spiffe://weld.test/host/ops".into(),
    ]);
    assert_eq!(
        deployment.plan.callers_of("b", "demo:greet/greeter@0.1.0"),
        allowed
    );
    let link = deployment
        .plan
        .imports_of("greet-caller")
        .find_map(|r| r.security.as_ref())
        .unwrap();
    assert_eq!(link.callers, allowed);

    let (server, failures) = serve_watched(&m, "b");
    assert_eq!(greet(&runtime(&m, "a"), "linked"), "ok: hello, linked");
    let ops = outside_caller(dir.path(), port, "ops");
    assert_eq!(greet(&runtime(&ops, "ops"), "named"), "ok: hello, named");
    // A certificate the CA signed, naming a caller nobody allowed.
    let c = outside_caller(dir.path(), port, "c");
    let seen = greet(&runtime(&c, "c"), "stranger");
    assert!(seen.starts_with("error: "), "{seen}");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (2, 1), "{stats:?}");
    assert_eq!(stats.failures.get(&Cause::Unauthorized), Some(&1));
    let logged = refusals(&failures, Cause::Unauthorized);
    assert!(
        logged.contains("identity `spiffe://weld.test/host/c` is not among the callers allowed"),
        "{logged}"
    );
}

/// Asserts that host `b` on TCP exposing `expose` plans with an error of
/// `kind` whose message contains `needle`.
fn tcp_expose_refused(expose: &str, kind: DiagnosticKind, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let b = format!("{}\nexpose = {expose}", crate::common::tcp(free_port()));
    let errors = plan_errors(&greet_manifest(dir.path(), &b, "", ""));
    assert!(
        errors.iter().any(|(k, m)| *k == kind && m.contains(needle)),
        "{errors:?}"
    );
}

#[test]
fn callers_on_a_transport_that_does_not_authenticate_are_refused_at_plan_time() {
    tcp_expose_refused(
        r#"[{ interface = "greet:demo:greet/greeter@0.1.0", callers = ["spiffe://weld.test/host/ops"] }]"#,
        DiagnosticKind::Identity,
        "names its callers, but host `b` serves at tcp://127.0.0.1:",
    );
    tcp_expose_refused(
        r#"[{ interface = "greet:demo:greet/greeter@0.1.0", callers = ["two words"] }]"#,
        DiagnosticKind::InvalidValue,
        "caller \"two words\" is not an identity",
    );
    // One interface exposed twice on a host (which could merge the
    // callers of two entries): refused.
    tcp_expose_refused(
        r#"["greet:demo:greet/greeter@0.1.0", "greet:demo:greet/greeter@0.1.0"]"#,
        DiagnosticKind::Duplicate,
        "already exposes `demo:greet/greeter@0.1.0`",
    );
}

#[test]
fn a_callers_changed_certificate_is_presented_on_its_next_connection() {
    let dir = tempfile::tempdir().unwrap();
    identities(dir.path(), "ca", &["a", "b"]);
    // `a`'s next certificate names `a-next`, from a CA the server also
    // trusts.
    let next = dir.path().join("next");
    std::fs::create_dir(&next).unwrap();
    identities_made(&next, "ca", &["a"], true, |_, params| {
        params
            .subject_alt_names
            .retain(|n| !matches!(n, rcgen::SanType::URI(_)));
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://weld.test/host/a-next".try_into().unwrap(),
        ));
    });
    let trusted = [
        std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
        std::fs::read_to_string(next.join("ca.pem")).unwrap(),
    ]
    .concat();
    // The server's deployment, in a folder of its own: it knows `a` by the
    // certificate it had, and allows that identity only.
    let server_dir = dir.path().join("server");
    std::fs::create_dir(&server_dir).unwrap();
    for f in ["a.pem", "a.key", "b.pem", "b.key"] {
        std::fs::copy(dir.path().join(f), server_dir.join(f)).unwrap();
    }
    std::fs::write(server_dir.join("ca.pem"), trusted).unwrap();
    let port = free_port();
    let served = quic_manifest(&server_dir, port, A_TLS);
    let (server, _) = serve_watched(&served, "b");
    let m = quic_manifest(dir.path(), port, A_TLS);
    let rt = runtime(&m, "a");
    assert_eq!(greet(&rt, "before"), "ok: hello, before");
    replace(dir.path(), "a.pem", &next.join("a.pem"));
    replace(dir.path(), "a.key", &next.join("a.key"));
    // The open connection keeps the certificate it was made with.
    assert_eq!(greet(&rt, "open"), "ok: hello, open");
    server.stop().unwrap();

    // The server comes back: the caller's next connection presents the new
    // certificate, which the server's plan does not allow.
    let (server, failures) = serve_watched(&served, "b");
    let seen = greet(&rt, "after");
    assert!(seen.starts_with("error: "), "{seen}");
    let stats = server.stop().unwrap();
    assert_eq!(
        stats.failures.get(&Cause::Unauthorized),
        Some(&1),
        "{stats:?}"
    );
    let logged = refusals(&failures, Cause::Unauthorized);
    assert!(
        logged.contains("identity `spiffe://weld.test/host/a-next`"),
        "{logged}"
    );
}
