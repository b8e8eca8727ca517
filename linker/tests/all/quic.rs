//! wRPC over QUIC with mutual TLS: identities made at test time (a CA and
//! one certificate per host, rcgen), `weld serve` on a real UDP socket,
//! and callers that present their host's certificate. A caller without a
//! certificate the CA signed is refused during the handshake; files that
//! cannot be an identity are refused at plan time.

use crate::common::{free_port, greet, greet_manifest, runtime, serve};
use std::path::Path;
use weld_linker::input::InputLimits;
use weld_linker::{Deployment, DiagnosticKind, PlanOptions};

/// Writes `ca.pem` (a CA of its own, `ca_name`) and, for each host,
/// `<host>.pem` and `<host>.key` (mode 600) into `dir`: a certificate for
/// `localhost` and 127.0.0.1 naming the host `spiffe://weld.test/host/<host>`.
pub(crate) fn identities(dir: &Path, ca_name: &str, hosts: &[&str]) {
    identities_for(dir, ca_name, hosts, true);
}

/// [`identities`], each host's certificate also naming `<host>.weld.test`,
/// and `localhost` and 127.0.0.1 only when `loopback`.
fn identities_for(dir: &Path, ca_name: &str, hosts: &[&str], loopback: bool) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType,
    };
    use std::os::unix::fs::PermissionsExt as _;
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join(format!("{ca_name}.pem")), ca.pem()).unwrap();
    for host in hosts {
        let key = KeyPair::generate().unwrap();
        let mut names = vec![format!("{host}.weld.test")];
        if loopback {
            names.push("localhost".to_string());
        }
        let mut params = CertificateParams::new(names).unwrap();
        if loopback {
            params
                .subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
        }
        params.subject_alt_names.push(SanType::URI(
            format!("spiffe://weld.test/host/{host}")
                .try_into()
                .unwrap(),
        ));
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{host}.pem")), cert.pem()).unwrap();
        let key_path = dir.join(format!("{host}.key"));
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

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
    let server = serve(&m, "b");
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
