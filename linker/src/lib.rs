//! weld-linker: the library behind `weld`.
//!
//! Data flows one way through one module per concept:
//!
//! [`manifest`] (parse and validate `weld.toml`) → [`introspect`] (component
//! bytes → imports and exports with types) → [`check`] (type compatibility of
//! each link) → [`plan`] (one resolution per import, with a reason) →
//! [`fuse`] (which components compose, via `weld-compose`) → [`runtime`]
//! (one host's components in one wasmtime store). [`bench`] measures the
//! runtime's calls.
//!
//! ```no_run
//! let deployment = weld_linker::plan::Deployment::load("weld.toml".as_ref())
//!     .map_err(|d| d.to_string())
//!     .unwrap();
//! print!("{}", deployment.plan.to_table(false));
//! ```

pub mod bench;
pub mod check;
pub mod diagnostic;
pub mod fuse;
pub mod introspect;
pub mod manifest;
pub mod plan;
pub mod runtime;
pub mod wit;
pub mod wrpc;

pub use diagnostic::{Diagnostic, Diagnostics, Location};
pub use plan::{Deployment, Plan, Resolution, Transport};
