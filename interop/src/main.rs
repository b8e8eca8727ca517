//! `wrpc-peer`: a native wRPC peer built with the real wRPC implementation
//! (wrpc 0.17, `wit-bindgen-wrpc`), so that weld's own wRPC codec and stubs can
//! be tested for interoperability against it.
//!
//! ```text
//! wrpc-peer serve (--tcp ADDR | --unix PATH | --nats URL [--prefix P] | --quic ADDR --cert F --key F --ca F)
//! wrpc-peer call  (… the same …) (types | math | greet NAME | count)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

mod client;
mod json;
mod quic;
mod server;

/// Bindings for every interface the peer serves and calls.
///
/// One world imports and exports each interface, so the same build is both a
/// client (`bindings::demo::…`) and a server (`bindings::exports::demo::…`).
/// The WIT of `demo:types` and `demo:math` is weld's own fixture WIT, read in
/// place so the two can never drift apart.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
mod bindings {
    wit_bindgen_wrpc::generate!({
        inline: "
            package weld:interop;

            world peer {
                import demo:types/all@0.1.0;
                export demo:types/all@0.1.0;
                import demo:math/adder@0.1.0;
                export demo:math/adder@0.1.0;
                import demo:greet/greeter@0.1.0;
                export demo:greet/greeter@0.1.0;
            }
        ",
        world: "weld:interop/peer",
        path: ["../fixtures/wit/types", "../fixtures/wit/math", "wit/greet-wire"],
        generate_all,
    });
}

#[derive(Parser, Debug)]
#[command(
    name = "wrpc-peer",
    about = "A native wRPC peer (wrpc 0.17) serving and calling weld's demo interfaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve demo:types/all, demo:math/adder and demo:greet/greeter (wire view)
    /// until killed; prints `ready` once listening.
    Serve {
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Call a suite of functions on a peer and print one JSON line per function.
    Call {
        #[command(flatten)]
        endpoint: Endpoint,
        #[command(subcommand)]
        suite: Suite,
    },
}

/// Where to serve or call: exactly one transport.
#[derive(Args, Debug, Clone)]
#[group(id = "transport", required = true, multiple = false)]
pub struct Transport {
    /// TCP address, e.g. 127.0.0.1:7761
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// Unix domain socket path
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// NATS server URL, e.g. nats://127.0.0.1:4222
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// QUIC (UDP) address, e.g. 127.0.0.1:7800; needs --cert, --key, --ca
    #[arg(long, value_name = "ADDR")]
    quic: Option<String>,
}

/// A transport plus the NATS subject prefix.
#[derive(Args, Debug, Clone)]
pub struct Endpoint {
    #[command(flatten)]
    transport: Transport,
    /// NATS subject prefix: subjects are `[PREFIX.]wrpc.0.0.1.<instance>.<func>`
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
    /// QUIC: this peer's certificate chain (PEM)
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// QUIC: its private key (PEM)
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// QUIC: the CA bundle trusted for the other side (PEM)
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

/// The resolved endpoint.
#[derive(Debug, Clone)]
pub enum Target {
    /// A TCP address.
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
    /// A NATS server.
    Nats {
        /// Server URL, e.g. `nats://127.0.0.1:4222`.
        url: String,
        /// Subject prefix; empty for none.
        prefix: String,
    },
    /// A QUIC address, with this peer's identity for mutual TLS.
    Quic {
        /// `ip:port`.
        addr: String,
        /// The certificate, key and CA files.
        tls: quic::Files,
    },
}

impl Endpoint {
    fn target(self) -> anyhow::Result<Target> {
        let Transport {
            tcp,
            unix,
            nats,
            quic,
        } = self.transport;
        // Checked here rather than with clap's `requires`, which does not
        // hold across the flattened group.
        if self.prefix.is_some() && nats.is_none() {
            anyhow::bail!("--prefix only applies to --nats");
        }
        if let Some(addr) = quic {
            let (Some(cert), Some(key), Some(ca)) = (self.cert, self.key, self.ca) else {
                anyhow::bail!("--quic needs --cert, --key and --ca");
            };
            return Ok(Target::Quic {
                addr,
                tls: quic::Files { cert, key, ca },
            });
        }
        Ok(match (tcp, unix, nats) {
            (Some(addr), _, _) => Target::Tcp(addr),
            (_, Some(path), _) => Target::Unix(path),
            (_, _, Some(url)) => Target::Nats {
                url,
                prefix: self.prefix.unwrap_or_default(),
            },
            // clap's group makes exactly one of them required.
            (None, None, None) => {
                anyhow::bail!("one of --tcp, --unix, --nats or --quic is required")
            }
        })
    }
}

/// What `call` exercises.
#[derive(Subcommand, Debug, Clone)]
pub enum Suite {
    /// Every function of demo:types/all@0.1.0 with edge-case values; exits 1
    /// unless each returns exactly what was sent.
    Types,
    /// demo:math/adder@0.1.0: add(40, 2), echo("héllo"), sum([1, 2, 3]).
    Math,
    /// demo:greet/greeter@0.1.0 (wire view): hello(NAME).
    Greet {
        /// The name to greet
        name: String,
    },
    /// demo:greet/greeter@0.1.0 (wire view): count().
    Count,
    /// Latency of sequential calls of demo:math/adder@0.1.0: `add(40, 2)`
    /// (`add`) or `sum` of a `BYTES`-byte list (`sum`); prints one JSON line
    /// with the sorted per-call nanoseconds.
    ///
    /// `raw` (NATS only) times a bare async-nats request/reply of 9 bytes
    /// through the same server instead, answered by a responder in this
    /// process: the floor of any protocol over NATS.
    Bench {
        /// `add`, `sum` or `raw`.
        func: String,
        /// Calls to time (after 10% as many untimed warm-up calls).
        calls: usize,
        /// The list's size for `sum`.
        #[arg(long, default_value_t = 65536)]
        bytes: usize,
        /// Calls in flight at once; the line then also carries `wall_ns`,
        /// the time all the timed calls took together.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
}

/// Connects to a NATS server; failing fast rather than retrying forever, so a
/// wrong URL is an error and not a hang.
/// Also returns the bare connection the client uses, for [`settle`].
pub async fn connect_nats(
    url: &str,
    prefix: &str,
) -> anyhow::Result<(wrpc_transport_nats::Client, async_nats::Client)> {
    let nats = async_nats::connect(url)
        .await
        .with_context(|| format!("failed to connect to NATS server `{url}`"))?;
    let client = wrpc_transport_nats::Client::new(nats.clone(), prefix, None)
        .await
        .context("failed to set up the wRPC NATS client")?;
    Ok((client, nats))
}

/// Returns once the broker has processed everything `nats` sent before: a
/// message to a fresh subject of its own comes back. A flush only writes
/// the socket; a subscription merely flushed may not be at the broker yet,
/// and a caller on another connection is then told "no responders".
pub async fn settle(nats: &async_nats::Client) -> anyhow::Result<()> {
    use futures::StreamExt as _;
    // The whole exchange under one bound: a reconnecting client may hold
    // the subscribe or the publish too.
    let echoed = async {
        let subject = nats.new_inbox();
        let mut echo = nats.subscribe(subject.clone()).await?;
        nats.publish(subject, wit_bindgen_wrpc::bytes::Bytes::new())
            .await?;
        echo.next()
            .await
            .context("the NATS connection ended before the broker echoed")
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), echoed)
        .await
        .context("the NATS broker did not echo within 10 s")??;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("wrpc-peer: failed to start the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { endpoint } => server::run(endpoint.target()?).await,
            Command::Call { endpoint, suite } => client::run(endpoint.target()?, suite).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("wrpc-peer: {err:#}");
            ExitCode::FAILURE
        }
    }
}
