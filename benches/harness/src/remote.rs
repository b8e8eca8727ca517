//! The wRPC series: the bundled pair split over two hosts, `adder` served
//! by a background `weld serve`, `driver` calling it over loopback TCP, a
//! Unix socket, or a NATS server.

use crate::matrix::{
    bundled, default_wrpc_calls, fixtures, run_remote, wrpc_series, Row, Series, WRPC_SERIES,
};
use crate::progress::{stage, Progress};
use crate::Error;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A directory of this process's own for sockets, removed when dropped
/// (also when a measurement fails half-way).
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// Creates `weld-bench-{what}-{pid}` in the system's temporary folder.
    pub(crate) fn new(what: &str) -> Result<Scratch, Error> {
        let path = std::env::temp_dir().join(format!("weld-bench-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            action: "create the scratch folder",
            path: path.clone(),
            source,
        })?;
        Ok(Scratch(path))
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback address with a port free at the time of asking.
///
/// # Errors
/// [`Error::NoPort`] when no loopback port is free.
pub(crate) fn free_loopback() -> Result<std::net::SocketAddr, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(Error::NoPort)
}

/// The loopback wRPC endpoints the bundled series use, each with its
/// series: TCP on a free port, a Unix socket in `scratch`, and NATS through
/// `nats` when given. Each endpoint is a manifest's inline table.
///
/// # Errors
/// [`Error::NoPort`] when no loopback port is free.
pub fn transports(scratch: &Path, nats: Option<&str>) -> Result<Vec<(Series, String)>, Error> {
    let port = free_loopback()?.port();
    let [tcp, unix, over_nats] = WRPC_SERIES;
    let mut out = vec![
        (
            wrpc_series(tcp.0, tcp.1),
            format!("{{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}"),
        ),
        (
            wrpc_series(unix.0, unix.1),
            format!(
                "{{ transport = \"unix\", path = {:?} }}",
                scratch.join("bench.sock").display().to_string()
            ),
        ),
    ];
    if let Some(url) = nats {
        out.push((
            wrpc_series(over_nats.0, over_nats.1),
            format!("{{ transport = \"nats\", url = {url:?}, prefix = \"weld-bench\" }}"),
        ));
    }
    Ok(out)
}

/// The wRPC series in `wanted`, each the bundled loops for wRPC
/// ([`default_wrpc_calls`]) from host `a` against `adder` served on host
/// `b`.
///
/// # Errors
/// A fixture missing, a host that cannot be served, a cell that fails.
pub fn rows(
    wanted: &[Series],
    nats: Option<&str>,
    budget: Duration,
    progress: &mut dyn Progress,
) -> Result<Vec<Row>, Error> {
    let [driver, adder] = fixtures(["driver", "adder"])?;
    let scratch = Scratch::new("wrpc")?;
    let transports: Vec<_> = transports(scratch.path(), nats)?
        .into_iter()
        .filter(|(s, _)| wanted.iter().any(|w| w.key == s.key))
        .collect();
    let calls = default_wrpc_calls();
    stage(progress, calls.len() * transports.len(), |progress| {
        let mut rows = Vec::new();
        for (series, endpoint) in transports {
            let deployment = bundled(driver.clone(), adder.clone(), Some(&endpoint))?;
            let step = |s: &str, p: &str| progress.step(&format!("{s}: {p}"));
            rows.extend(run_remote(
                &deployment,
                "a",
                "b",
                series,
                &calls,
                budget,
                step,
            )?);
        }
        Ok(rows)
    })
}
