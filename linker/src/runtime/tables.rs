//! What linking a host's units leaves for every store to resolve: the
//! slots (the callee function behind each host-linked import), the proxied
//! resource types, and one wRPC client per endpoint. Filled by `link` and
//! `hostlinked`, read by `Runtime`.

use crate::wrpc::client::Remote;
use crate::wrpc::Endpoint;
use std::collections::HashMap;
use std::sync::Arc;

/// A slot: the callee function a host-linked import calls.
#[derive(Debug, Clone)]
pub(crate) struct SlotTarget {
    pub unit: usize,
    pub export: String,
    pub func: String,
}

/// A proxied resource type: the callee's resource behind a host type.
#[derive(Debug, Clone)]
pub(crate) struct ResourceTarget {
    pub unit: usize,
    pub export: String,
    pub resource: String,
}

/// What linking fills in besides the units: the slots and proxied resource
/// types every store must resolve after instantiation.
#[derive(Default)]
pub(crate) struct Tables {
    pub slots: Vec<SlotTarget>,
    pub resources: Vec<ResourceTarget>,
    /// One client per endpoint, shared by every link to it.
    pub remotes: HashMap<Endpoint, Arc<Remote>>,
}
