//! `weld plan` and `weld run` with providers and exposed interfaces.

use crate::common::weld_uncached as weld;

fn manifest(dir: &tempfile::TempDir) -> String {
    let wits = weld_fixtures::workspace_root().join("fixtures/wit");
    let wit = wits.join("greet");
    weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            r#"allow-dirs = [{wits:?}]

[components.greet-caller]
path = "{{greet-caller}}"
host = "a"

[components.kv]
path = "{{kv}}"
host = "a"

[providers.greet-svc]
wit = {wit:?}
exports = ["demo:greet/greeter@0.1.0"]
host = "svc"

[hosts.svc]
wrpc = {{ transport = "tcp", address = "127.0.0.1:1" }}

[hosts.a]
wrpc = {{ transport = "tcp", address = "127.0.0.1:2" }}
expose = ["greet-caller:demo:greet/front@0.1.0"]
"#
        ),
    )
    .display()
    .to_string()
}

#[test]
fn plan_shows_providers_and_exposed_interfaces_in_table_json_and_dot() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(&dir);
    let out = weld(&["plan", &m]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("greet-svc (provider) @ tcp://127.0.0.1:1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("provider `greet-svc`: an external wRPC server at tcp://127.0.0.1:1 (host `svc`), serving demo:greet/greeter@0.1.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("host `a` exposes `demo:greet/front@0.1.0` of `greet-caller` to callers outside the manifest (1 function)"),
        "{stdout}"
    );
    // One host of components: the provider's host is not one weld runs.
    assert!(stdout.contains("on 1 host,"), "{stdout}");

    let out = weld(&["plan", &m, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = v["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["import"] == "demo:greet/greeter@0.1.0")
        .unwrap();
    assert_eq!(r["provider"], true);
    assert_eq!(r["transport"], "wrpc");
    assert_eq!(v["providers"][0]["name"], "greet-svc");
    assert_eq!(v["providers"][0]["exports"][0], "demo:greet/greeter@0.1.0");
    assert_eq!(v["exposed"][0]["interface"], "demo:greet/front@0.1.0");
    assert_eq!(v["exposed"][0]["functions"][0], "greet");

    let out = weld(&["plan", &m, "--dot"]);
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.contains("\"greet-svc\" [shape=component"), "{dot}");
    assert!(dot.contains("exposed"), "{dot}");
}

#[test]
fn run_needs_no_host_beside_a_provider_host() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(&dir);
    // Nothing listens on 127.0.0.1:1: the guest gets the error value.
    let out = weld(&["run", &m, "-i", "greet-caller.greet(\"x\")"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("\"error: "), "{stdout}");
    assert!(stdout.contains("greet-svc"), "{stdout}");
}

#[test]
fn exposing_an_interface_with_resources_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(&dir);
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replace(
            "expose = [\"greet-caller:demo:greet/front@0.1.0\"]",
            "expose = [\"kv:demo:kv/store@0.1.0\"]",
        ),
    )
    .unwrap();
    let out = weld(&["plan", &m]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "expose `kv:demo:kv/store@0.1.0`: cannot serve it: the interface defines resource"
        ),
        "{stderr}"
    );
}

/// WIT without comments and blank lines, each line trimmed.
fn normalized(wit: &str) -> Vec<String> {
    wit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(str::to_string)
        .collect()
}

#[test]
fn inspect_wire_prints_what_a_native_peer_generates_bindings_from() {
    let out = weld(&[
        "inspect",
        "--wire",
        weld_fixtures::path("greet").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wire = String::from_utf8_lossy(&out.stdout);
    // The interop peer's hand-written wire view of the same greeter.
    let by_hand = std::fs::read_to_string(
        weld_fixtures::workspace_root().join("interop/wit/greet-wire/greet.wit"),
    )
    .unwrap();
    assert_eq!(normalized(&wire), normalized(&by_hand), "{wire}");
    // And it is WIT a parser accepts.
    let mut resolve = wit_parser::Resolve::default();
    resolve
        .push_str("wire.wit", &wire)
        .expect("the wire view parses");
}

/// A platform team's shared definitions: `platform/platform.toml` holds the
/// provider (its WIT path relative to that file) and includes
/// `platform/hosts.toml`, which holds the hosts.
fn platform(dir: &std::path::Path, hosts: &str) {
    let p = dir.join("platform");
    std::fs::create_dir_all(&p).unwrap();
    weld_fixtures::copy_wit("greet", &p.join("wit"));
    std::fs::write(
        p.join("platform.toml"),
        "include = [\"hosts.toml\"]\n\n[providers.greet-svc]\nwit = \"wit\"\nexports = [\"demo:greet/greeter@0.1.0\"]\nhost = \"svc\"\n",
    )
    .unwrap();
    std::fs::write(p.join("hosts.toml"), hosts).unwrap();
}

const HOSTS: &str = "[hosts.svc]\nwrpc = { transport = \"tcp\", address = \"127.0.0.1:1\" }\n\n[hosts.unused]\nwrpc = { transport = \"tcp\", address = \"127.0.0.1:3\" }\n";

fn deployment(dir: &std::path::Path, extra: &str) -> String {
    weld_fixtures::write_manifest(
        dir,
        &format!("include = [\"platform/platform.toml\"]\n\n[components.greet-caller]\npath = \"{{greet-caller}}\"\n{extra}"),
    )
    .display()
    .to_string()
}

#[test]
fn platform_definitions_are_included_and_shared() {
    let dir = tempfile::tempdir().unwrap();
    platform(dir.path(), HOSTS);
    let m = deployment(dir.path(), "");
    let out = weld(&["plan", &m]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("greet-svc (provider) @ tcp://127.0.0.1:1"),
        "{stdout}"
    );
}

#[test]
fn an_include_cycle_is_an_error_naming_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    platform(
        dir.path(),
        &format!("include = [\"platform.toml\"]\n{HOSTS}"),
    );
    let m = deployment(dir.path(), "");
    let out = weld(&["plan", &m]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("include cycle: "), "{stderr}");
    assert!(
        stderr.contains("platform.toml` includes `") && stderr.contains("hosts.toml` includes `"),
        "{stderr}"
    );
    // Placed at the include that closes the cycle, in the file holding it.
    assert!(stderr.contains("hosts.toml:1:"), "{stderr}");
}

#[test]
fn a_definition_in_two_files_names_both_places() {
    let dir = tempfile::tempdir().unwrap();
    platform(dir.path(), HOSTS);
    let m = deployment(
        dir.path(),
        "\n[hosts.svc]\nwrpc = { transport = \"tcp\", address = \"127.0.0.1:9\" }\n",
    );
    let out = weld(&["plan", &m]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("host `svc` is defined twice: at "),
        "{stderr}"
    );
    assert!(
        stderr.contains("weld.toml:") && stderr.contains("hosts.toml:1:"),
        "{stderr}"
    );
}

#[test]
fn diagnostics_point_into_the_included_file() {
    let dir = tempfile::tempdir().unwrap();
    platform(
        dir.path(),
        "[hosts.svc]\nwrpc = { transport = \"tcp\", address = \"not an address\" }\n",
    );
    let m = deployment(dir.path(), "");
    let out = weld(&["plan", &m]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("hosts.toml:2:"), "{stderr}");
    // An included file holds platform definitions only.
    platform(dir.path(), "[components.x]\npath = \"x.wasm\"\n");
    let out = weld(&["plan", &m]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid included file"), "{stderr}");
    assert!(stderr.contains("hosts.toml:1:"), "{stderr}");
}

#[test]
fn an_include_chain_past_the_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cap = weld_linker::manifest::MAX_INCLUDED;
    for i in 0..=cap {
        std::fs::write(
            dir.path().join(format!("p{i}.toml")),
            format!("include = [\"p{}.toml\"]\n", i + 1),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join(format!("p{}.toml", cap + 1)), "").unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        "include = [\"p0.toml\"]\n[components.greet-caller]\npath = \"{greet-caller}\"\n",
    );
    let out = weld(&["plan", m.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("more than {cap} included files")),
        "{stderr}"
    );
}

#[test]
fn an_include_outside_the_manifest_folder_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("deploy");
    std::fs::create_dir(&inner).unwrap();
    // A secret beside the deployment's folder, and a link to it inside.
    let secret = dir.path().join("secret.toml");
    std::fs::write(&secret, "password TOPSECRET-VALUE\n").unwrap();
    std::os::unix::fs::symlink(&secret, inner.join("link.toml")).unwrap();
    for (include, shown) in [
        ("/proc/self/environ", "/proc/self/environ"),
        ("../secret.toml", "../secret.toml"),
        ("link.toml", "link.toml"),
    ] {
        let m = weld_fixtures::write_manifest(
            &inner,
            &format!(
                "include = [{include:?}]\n[components.greet-caller]\npath = \"{{greet-caller}}\"\n"
            ),
        );
        let out = weld(&["plan", m.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("included `{}", inner.join(shown).display()))
                || stderr.contains(&format!("included `{shown}`")),
            "{stderr}"
        );
        assert!(
            stderr.contains("is outside the folders a manifest may read from"),
            "{stderr}"
        );
        assert!(!stderr.contains("TOPSECRET"), "{stderr}");
        assert!(!stderr.contains("PATH="), "{stderr}");
    }
    // The top-level manifest may allow a folder; then the file is read.
    let m = weld_fixtures::write_manifest(
        &inner,
        "allow-dirs = [\"..\"]\ninclude = [\"../secret.toml\"]\n[components.greet-caller]\npath = \"{greet-caller}\"\n",
    );
    let out = weld(&["plan", m.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("is outside the folders"), "{stderr}");
    assert!(
        stderr.contains("TOPSECRET-VALUE"),
        "read once allowed: {stderr}"
    );
}
