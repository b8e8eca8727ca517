//! Desired state in a NATS JetStream bucket (a real `nats-server -js`): a
//! host serving from it applies each revision written, refuses one that
//! does not plan or that a hostile writer forged (a path out of its
//! folder, bytes that are not their digest) while the old plan serves on,
//! and publishes its status with a heartbeat.

use crate::common;

use common::{free_port, tcp};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weld_fixtures::nats::NatsServer;
use weld_linker::desired::{self, Bundle, BundleFile, DesiredError, OpenError, PlanStore, PlanUrl};
use weld_linker::input::InputLimits;
use weld_linker::serve::{follow, Live, PlanSource, ServeOptions, Server, Status, WatchOptions};
use weld_linker::wrpc::nats_auth::NatsAuth;
use weld_linker::Deployment;

/// greet-caller on `a` → greet on `b` over TCP `port`, greet answering as
/// `version`, every file in `dir`.
fn versioned(dir: &Path, port: u16, version: u64) -> PathBuf {
    let toml = format!(
        "[components.greet-caller]\npath = \"{{greet-caller}}\"\nhost = \"a\"\n\n\
         [components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\nenv = {{ GREET_VERSION = \"{version}\" }}\n\n\
         [[link]]\nimport = \"greet-caller:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n\n\
         [hosts.b]\nwrpc = {}\n",
        tcp(port)
    );
    weld_fixtures::write_manifest_in(dir, &toml)
}

fn store(url: &PlanUrl, create: bool) -> PlanStore {
    PlanStore::connect(url, &NatsAuth::default(), create).expect("the bucket opens")
}

/// Writes the deployment at `manifest` as the desired state, as `weld plan
/// --apply` does; its revision.
fn publish(store: &PlanStore, manifest: &Path) -> u64 {
    let d = Deployment::load(manifest).expect("manifest plans");
    let (bundle, bytes) =
        desired::prepare(&d, &Default::default(), &InputLimits::default()).expect("prepares");
    store.publish(&bundle, &bytes).expect("published")
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status(store: &PlanStore) -> Status {
    Status::parse(&store.status("b").unwrap().expect("a status")).unwrap()
}

// One scenario: each step starts from the state the last one left.
#[allow(clippy::too_many_lines)]
#[test]
fn a_host_follows_a_bucket_refuses_bad_and_forged_revisions_and_publishes_its_status() {
    let nats = NatsServer::start_jetstream();
    let url: PlanUrl = format!("{}/plans/prod", nats.url()).parse().unwrap();
    let port = free_port();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let writer = store(&url, true);

    // A host started before anything is written says so.
    let mut source = PlanSource::new(store(&url, false)).unwrap();
    let e = source
        .current(&WatchOptions::default())
        .err()
        .expect("nothing yet");
    assert!(
        matches!(e, OpenError::Desired(DesiredError::Missing { .. })),
        "{e}"
    );

    let first = publish(&writer, &versioned(dirs[0].path(), port, 1));
    let revision = source
        .current(&WatchOptions::default())
        .expect("revision 1 loads");
    assert_eq!(revision.revision, first);
    let live = Live::new();
    let mut options = ServeOptions::new("b");
    options.live = Some(live.clone());
    let _server = Server::new(&revision.deployment, options)
        .unwrap()
        .spawn()
        .unwrap();
    let heartbeat = Duration::from_millis(300);
    let _follower = follow(source, &revision, live, WatchOptions::default(), heartbeat).unwrap();
    let caller = common::runtime(&versioned(dirs[1].path(), port, 1), "a");
    assert_eq!(common::greet(&caller, "x"), "ok: hello, x (v1)");
    let s = status(&writer);
    assert_eq!(
        (s.revision, s.version, s.heartbeat_ms),
        (Some(first), 1, Some(300))
    );
    assert!(s.components.iter().any(|c| c.name == "greet"), "{s:?}");

    // A new version written: applied, then served, and the status says so.
    let second = publish(&writer, &versioned(dirs[1].path(), port, 2));
    eventually("v2 answers", || {
        common::greet(&caller, "x") == "ok: hello, x (v2)"
    });
    eventually("the status names revision 2", || {
        status(&writer).revision == Some(second)
    });
    assert_eq!(status(&writer).version, 2);

    // A deployment that does not plan (a link to an export of another
    // type), written past `prepare`: refused, v2 serves on.
    let broken = dirs[2].path().join("weld.toml");
    versioned(dirs[2].path(), port, 3);
    let text = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(
        &broken,
        text.replace("export = \"greet\"", "export = \"greet-caller\""),
    )
    .unwrap();
    let manifest = weld_linker::manifest::Manifest::load(&broken).unwrap();
    let (bundle, bytes) = Bundle::of(&manifest, 1 << 30).unwrap();
    let third = writer.publish(&bundle, &bytes).unwrap();
    // Refused with `why` in its error, revision 2 still served.
    let refused = |why: &str| {
        eventually(why, || {
            let s = status(&writer);
            s.last
                .and_then(|o| o.error)
                .is_some_and(|e| e.contains(why))
        });
        assert_eq!(
            status(&writer).revision,
            Some(second),
            "{why}: still revision 2"
        );
    };
    refused("greet-caller");
    assert_eq!(common::greet(&caller, "x"), "ok: hello, x (v2)");
    assert!(third > second);

    // Forged documents: a path out of the folder, a file whose stored
    // bytes are not its digest's. Each refused; v2 serves on.
    let (good, good_bytes) = Bundle::of(
        &weld_linker::manifest::Manifest::load(&versioned(dirs[2].path(), port, 4)).unwrap(),
        1 << 30,
    )
    .unwrap();
    let mut escape = good.clone();
    escape.files[1].path = "../../etc/greet.wasm".into();
    put_raw(&writer, &url, &escape.to_bytes());
    refused("has an empty, `.` or `..` component");

    let mut forged = good.clone();
    let lie = b"not the component".to_vec();
    forged.files[1] = BundleFile {
        sha256: desired::sha256_hex(b"what the document claims"),
        size: lie.len() as u64,
        ..forged.files[1].clone()
    };
    // The object stored under the claimed digest holds other bytes.
    let mut bytes = good_bytes.clone();
    bytes[1] = lie;
    writer.publish(&forged, &bytes).unwrap();
    refused("do not match its SHA-256");
    assert_eq!(common::greet(&caller, "x"), "ok: hello, x (v2)");

    // A good revision again: applied.
    let fixed = writer.publish(&good, &good_bytes).unwrap();
    eventually("v4 answers", || {
        common::greet(&caller, "x") == "ok: hello, x (v4)"
    });
    eventually("the status names the fix", || {
        status(&writer).revision == Some(fixed)
    });

    // The heartbeat: the status is published again while nothing changes.
    let seen = status(&writer).seen;
    eventually("a heartbeat a second later", || status(&writer).seen > seen);
    let s = status(&writer);
    assert!(
        !s.stale(s.seen + 2),
        "two seconds is within three heartbeats (of at least 1 s)"
    );
    assert!(s.stale(s.seen + 4), "four is not");
}

/// Puts `document` under the URL's key as is, as a hostile writer would.
fn put_raw(_store: &PlanStore, url: &PlanUrl, document: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(&url.server).await.unwrap();
        let kv = async_nats::jetstream::new(client)
            .get_key_value(&url.bucket)
            .await
            .unwrap();
        kv.put(&url.key, document.to_vec().into()).await.unwrap();
    });
}

#[test]
fn a_writer_refuses_a_deployment_a_host_could_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    // Components named by absolute paths, outside the manifest's folder.
    let manifest = common::greet_manifest(dir.path(), &tcp(free_port()), "", "");
    let d = Deployment::load(&manifest).unwrap();
    let e = desired::prepare(&d, &Default::default(), &InputLimits::default()).unwrap_err();
    assert!(
        matches!(&e, OpenError::Plan(d) if d.to_string().contains("outside the desired state's files")),
        "{e}"
    );
    // A host's key named relative to the manifest: it would travel in the
    // bucket, or point into the host's copy.
    let dir = tempfile::tempdir().unwrap();
    let m = versioned(dir.path(), free_port(), 1);
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replace(
            "[hosts.b]\nwrpc = { transport = \"tcp\"",
            "[hosts.b]\nwrpc = { transport = \"unix\", path = \"b.sock\" }\n# ",
        ),
    )
    .unwrap();
    let d = Deployment::load(&m).unwrap();
    let e = desired::prepare(&d, &Default::default(), &InputLimits::default()).unwrap_err();
    assert!(
        matches!(&e, OpenError::Plan(d) if d.to_string().contains("Unix socket `")
            && d.to_string().contains("is inside the desired state")),
        "{e}"
    );
}

#[test]
fn a_desired_state_cannot_make_a_host_read_its_files() {
    let nats = NatsServer::start_jetstream();
    let url: PlanUrl = format!("{}/plans/hostile", nats.url()).parse().unwrap();
    let writer = store(&url, true);
    let mut host = PlanSource::new(store(&url, false)).unwrap();
    // The host's secrets, which a manifest's error would quote a line of.
    let secrets = tempfile::tempdir().unwrap();
    let toml = secrets.path().join("host.toml");
    std::fs::write(&toml, "SECRET-SEED-1 = [\n").unwrap();
    let wasm = secrets.path().join("host.wasm");
    std::fs::write(&wasm, b"SECRET-SEED-2").unwrap();
    let only = |text: String| {
        let bundle = Bundle {
            format: desired::FORMAT.into(),
            manifest: "weld.toml".into(),
            files: vec![BundleFile {
                path: "weld.toml".into(),
                sha256: desired::sha256_hex(text.as_bytes()),
                size: text.len() as u64,
            }],
        };
        writer.publish(&bundle, &[text.into_bytes()]).unwrap();
    };
    let greet = "[components.greet]\npath = \"{greet}\"\n";
    for (text, refused) in [
        (
            format!("allow-dirs = [\"/\"]\ninclude = [\"{}\"]\n", toml.display()),
            "`allow-dirs` is refused",
        ),
        (
            format!("include = [\"{}\"]\n", toml.display()),
            "outside the folders a manifest may read from",
        ),
        (
            greet.replace("{greet}", &wasm.display().to_string()),
            "outside the desired state's files; it is not read",
        ),
        (
            greet.replace("{greet}", "../../x.wasm"),
            "outside the desired state's files",
        ),
    ] {
        only(text.clone());
        let e = host
            .current(&WatchOptions::default())
            .err()
            .expect("refused");
        let e = e.to_string();
        assert!(e.contains(refused), "{text}: {e}");
        assert!(
            !e.contains("SECRET"),
            "{text}: the error quotes the host's file: {e}"
        );
    }
}
