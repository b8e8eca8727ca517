//! weld-linker: the library behind `weld`.
//!
//! Data flows one way through one module per concept:
//!
//! [`manifest`] (parse and validate `weld.toml`) → [`introspect`] (component
//! bytes → imports and exports with types) → [`check`] (type compatibility of
//! each link) → [`plan`] (one resolution per import, with a reason) →
//! [`deployment`] (the manifest, the components' bytes and the plan) →
//! [`fuse`] (which components compose, via `weld-compose`) → [`runtime`]
//! (one host's components in one wasmtime store) → [`serve`] (a host's
//! exports served to remote callers).
//!
//! At the bottom, [`wrpc`] is the wire (values, endpoints, calls): the
//! `weld-wrpc` crate, re-exported here, which depends on no other weld
//! crate, so the compiler keeps it from knowing the layers above; [`wit`] and [`diagnostic`] are small helpers
//! every layer may use, and [`input`] reads the files a user names; [`cost`]
//! estimates what a planned link's calls cost from a calibration;
//! [`desired`] turns a deployment into a desired state in a NATS
//! JetStream bucket and back, for hosts that follow one.
//! `docs/architecture.md` walks through the layers and the path of a call.
//!
//! ```no_run
//! use weld_linker::runtime::{Runtime, RuntimeOptions};
//! let deployment = weld_linker::Deployment::load("weld.toml".as_ref())
//!     .map_err(|d| d.to_string())
//!     .unwrap();
//! let runtime = Runtime::new(&deployment, &RuntimeOptions::default()).unwrap();
//! let mut app = runtime.instantiate().unwrap();
//! let results = app.call("driver", "run-add", &[wasmtime::component::Val::U32(10)]);
//! ```

pub mod check;
pub mod cost;
pub mod deployment;
pub mod desired;
pub mod diagnostic;
pub mod fuse;
pub mod input;
pub mod introspect;
pub mod json;
pub mod manifest;
pub mod observe;
pub mod plan;
pub mod runtime;
pub mod serve;
pub mod versioned;
pub mod wit;

/// The wire: the `weld-wrpc` crate.
pub use weld_wrpc as wrpc;

pub use deployment::Deployment;
pub use diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, Location};
pub use plan::{Plan, PlanOptions, Resolution, Transport};
