//! What a link costs, as the plan carries it: the calibration key of its
//! transport, each function's estimate and the link's (its dearest
//! function's). The estimates are made by the `cost` module's `annotate`;
//! the plan only holds and shows them.

use super::{Resolution, Transport};
use crate::manifest::Strategy;
use crate::wrpc::Endpoint;
use serde::{Deserialize, Serialize};

/// How a link is carried, as the calibration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostKey {
    /// In-process, fused (also used for `compose`: a composed artifact
    /// crosses the same fused adapters).
    Fused,
    /// In-process, host-linked.
    HostLinked,
    /// wRPC over TCP.
    WrpcTcp,
    /// wRPC over a Unix socket.
    WrpcUnix,
    /// wRPC over NATS.
    WrpcNats,
}

impl CostKey {
    /// The key of a resolution, or `None` for a host-provided import.
    pub fn of(resolution: &Resolution) -> Option<CostKey> {
        match resolution.transport {
            Transport::Compose => Some(CostKey::Fused),
            Transport::InProcess => Some(match resolution.strategy {
                Some(Strategy::HostLinked) => CostKey::HostLinked,
                _ => CostKey::Fused,
            }),
            Transport::Wrpc => Some(match resolution.endpoint {
                Some(Endpoint::Unix { .. }) => CostKey::WrpcUnix,
                Some(Endpoint::Nats { .. }) => CostKey::WrpcNats,
                _ => CostKey::WrpcTcp,
            }),
            Transport::Host => None,
        }
    }

    /// The name used in the file and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            CostKey::Fused => "fused",
            CostKey::HostLinked => "host-linked",
            CostKey::WrpcTcp => "wrpc-tcp",
            CostKey::WrpcUnix => "wrpc-unix",
            CostKey::WrpcNats => "wrpc-nats",
        }
    }
}

/// The estimate of one function of a link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionCost {
    /// The function, as a user reads it (`bucket.get`).
    pub function: String,
    /// The bytes its parameters and results are assumed to carry.
    pub bytes: u64,
    /// Whether a resource handle crosses.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resource: bool,
    /// Estimated nanoseconds per call.
    pub cost_ns: f64,
}

/// What one function of a link cost while a host ran it, from its
/// latency histogram (`weld serve --metrics`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasuredFunction {
    /// The function.
    pub function: String,
    /// Calls counted.
    pub calls: u64,
    /// Of them, failed.
    pub failures: u64,
    /// Median latency, in nanoseconds.
    pub p50_ns: f64,
    /// 99th percentile latency, in nanoseconds.
    pub p99_ns: f64,
}

/// What one link cost while a host ran it: every function's calls merged,
/// and each function's own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasuredCost {
    /// Calls counted.
    pub calls: u64,
    /// Of them, failed.
    pub failures: u64,
    /// Median latency, in nanoseconds.
    pub p50_ns: f64,
    /// 99th percentile latency, in nanoseconds.
    pub p99_ns: f64,
    /// Per function.
    pub functions: Vec<MeasuredFunction>,
}

impl MeasuredCost {
    /// For a table cell: `p50 1.20 µs, p99 4.00 µs (1042 calls, 3 failed)`.
    pub fn label(&self) -> String {
        let failed = if self.failures > 0 {
            format!(", {} failed", self.failures)
        } else {
            String::new()
        };
        format!(
            "p50 {}, p99 {} ({} calls{failed})",
            format_ns(self.p50_ns),
            format_ns(self.p99_ns),
            self.calls
        )
    }
}

/// The estimated cost of one link (set on a [`Resolution`] by
/// [`annotate`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkCost {
    /// Estimated nanoseconds of the link's dearest call.
    pub cost_ns: f64,
    /// Which calibration entry it was estimated from.
    pub cost_basis: CostKey,
    /// Whether `cost_ns` exceeds the budget (absent without a budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_budget: Option<bool>,
    /// Every function's estimate.
    pub cost_functions: Vec<FunctionCost>,
}

impl LinkCost {
    /// The estimate for a table cell or a graph label: `~294.0 ns`, with
    /// `(over budget)` when it is.
    pub fn label(&self) -> String {
        let over = if self.over_budget == Some(true) {
            " (over budget)"
        } else {
            ""
        };
        format!("~{}{over}", format_ns(self.cost_ns))
    }
}

/// Nanoseconds for people: `1.3 ns`, `294.0 ns`, `159.58 µs`, `5.01 ms`.
pub fn format_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}
