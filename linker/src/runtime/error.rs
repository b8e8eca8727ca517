//! What can go wrong preparing or running a host's components. Every
//! variant names the component, unit or function involved and keeps the
//! underlying error as its source.

use crate::fuse::FuseError;
use crate::manifest::ByteSize;
use crate::plan::HostChoiceError;

/// An error with its cause chain, from wasmtime or a transport (the one
/// boxed error of weld's crates, defined where composition needs it).
pub use weld_compose::BoxError;

/// Errors of the runtime; each names the component and function involved.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No host, or not the one asked for.
    #[error(transparent)]
    Host(#[from] HostChoiceError),
    /// A link of this host names a peer placed elsewhere although it is not
    /// a remote link (a plan not made by weld's planner).
    #[error(
        "component `{component}` import `{import}`: its in-process peer is not on host `{host}`"
    )]
    PeerNotHere {
        /// The importer.
        component: String,
        /// The import.
        import: String,
        /// The host being prepared.
        host: String,
    },
    /// Host-linked units import from each other in a loop.
    #[error("host-linked units on host `{host}` form a cycle")]
    UnitCycle {
        /// The host being prepared.
        host: String,
    },
    /// Two members of one fused unit link one import to different exports.
    #[error("{}: import `{import}` is host-linked to two different exporters in one fused unit", unit_label(.unit))]
    TwoExporters {
        /// The unit's members.
        unit: Vec<String>,
        /// The import.
        import: String,
    },
    /// The engine could not be configured.
    #[error("cannot create the engine")]
    Engine(#[source] BoxError),
    /// Composition of the fused units failed.
    #[error("fusing the in-process components failed")]
    Fuse(#[from] FuseError),
    /// A unit did not compile.
    #[error("{unit}: cannot compile")]
    Compile {
        /// The unit ("component `a`" or "fused unit (`a` + `b`)").
        unit: String,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// An import of a unit could not be defined.
    #[error("{unit}: {what}")]
    Link {
        /// The unit.
        unit: String,
        /// What was being defined (an import, the host interfaces).
        what: String,
        /// Why it failed.
        #[source]
        source: BoxError,
    },
    /// A store could not be set up (its WASI grants).
    #[error("cannot set up the store")]
    Store(#[source] BoxError),
    /// A unit did not instantiate.
    #[error("{unit}: instantiation failed")]
    Instantiate {
        /// The unit.
        unit: String,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// An instantiated unit lacks an export the links need.
    #[error("{unit}: export `{export}` has no function `{function}`")]
    MissingExport {
        /// The unit.
        unit: String,
        /// The interface export.
        export: String,
        /// The function.
        function: String,
    },
    /// The function to call does not exist.
    #[error("{0}")]
    NoSuchFunction(String),
    /// No component of the host exports `wasi:cli/run`.
    #[error("no component on this host exports `wasi:cli/run`; name the function to call")]
    NoCommand,
    /// Arguments did not match the function's parameters.
    #[error("{0}")]
    BadArguments(String),
    /// A guest trapped.
    #[error("component `{component}` function `{function}` trapped{path}: {message}")]
    Trap {
        /// The called component.
        component: String,
        /// The called function.
        function: String,
        /// The call path through host-linked calls, when known.
        path: String,
        /// The trap and its backtrace.
        message: String,
    },
    /// A call ran past its deadline (its component's `deadline-ms`).
    #[error("component `{component}` function `{function}` exceeded its deadline of {limit_ms} ms{path}")]
    DeadlineExceeded {
        /// The called component (whose deadline it is).
        component: String,
        /// The called function.
        function: String,
        /// The deadline, in milliseconds.
        limit_ms: u64,
        /// The call path through host-linked calls, when known.
        path: String,
    },
    /// The runtime was interrupted (a server shutting down) while or before
    /// the call ran.
    #[error(
        "component `{component}` function `{function}` was interrupted: the runtime is stopping"
    )]
    Interrupted {
        /// The called component.
        component: String,
        /// The called function.
        function: String,
    },
    /// A guest trapped after its store refused to grow a memory or table
    /// past the store's cap.
    #[error("component `{component}` function `{function}` trapped after growing a memory to {requested} was refused: the store's memories are capped at {cap} (the smallest `max-memory` of its components, set by `{set_by}`){path}")]
    MemoryCap {
        /// The called component.
        component: String,
        /// The called function.
        function: String,
        /// The size asked for.
        requested: ByteSize,
        /// The cap.
        cap: ByteSize,
        /// The component whose `max-memory` the cap is.
        set_by: String,
        /// The call path through host-linked calls, when known.
        path: String,
    },
    /// The pooling allocator's memory slots are smaller than a cap.
    #[error("component `{component}` has a `max-memory` of {cap}, above the pooling allocator's per-memory limit of {pool}, which would cap it silently")]
    PoolTooSmall {
        /// The component.
        component: String,
        /// Its cap.
        cap: String,
        /// The pool's per-memory size.
        pool: String,
    },
    /// A guest exited (`wasi:cli/exit`) with a status, as a command does;
    /// not a failure of weld, and not a trap.
    #[error("component `{component}` function `{function}` exited with status {code}")]
    Exited {
        /// The called component.
        component: String,
        /// The called function.
        function: String,
        /// The exit status.
        code: i32,
    },
    /// An earlier trap poisoned the store.
    #[error("the store is poisoned by an earlier trap ({0}); instantiate the deployment again")]
    Poisoned(String),
}

/// "component `a`" or "fused unit (`a` + `b`)", for messages.
pub(crate) fn unit_label(members: &[String]) -> String {
    if members.len() == 1 {
        format!("component `{}`", members[0])
    } else {
        format!(
            "fused unit ({})",
            members
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(" + ")
        )
    }
}
