//! Small WIT helpers shared by introspection, checking and planning:
//! interface names and versions, rendering types as WIT, and the wRPC-safety
//! rule.

use wit_parser::{
    Function, FunctionKind, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeId, TypeOwner,
};

/// The package that defines the wRPC transport error.
pub const WRPC_ERROR_INTERFACE: &str = "wrpc:rpc/error@0.1.0";

/// Splits `ns:pkg/iface@1.2.3` into `("ns:pkg/iface", Some("1.2.3"))`.
pub fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    }
}

/// Whether `name` has the shape of a full interface name:
/// `namespace:package/interface`, optionally `@version`.
///
/// ```
/// use weld_linker::wit::is_interface_name;
/// assert!(is_interface_name("acme:billing/charge@0.1.0"));
/// assert!(is_interface_name("acme:billing/charge"));
/// assert!(!is_interface_name("charge"));
/// assert!(!is_interface_name("acme:/charge"));
/// ```
pub fn is_interface_name(name: &str) -> bool {
    let (base, version) = split_version(name);
    let Some((package, interface)) = base.split_once('/') else {
        return false;
    };
    let Some((namespace, package)) = package.split_once(':') else {
        return false;
    };
    [namespace, package, interface]
        .iter()
        .all(|p| !p.is_empty() && !p.contains([':', '/', '@']))
        && version.is_none_or(|v| semver::Version::parse(v).is_ok())
}

/// Whether two interface names denote semver-compatible versions of one
/// interface: the same unversioned name and versions on the same
/// compatibility track (same major; for `0.x`, the same minor; for `0.0.x`,
/// the same patch). Pre-release versions only match themselves.
///
/// ```
/// use weld_linker::wit::semver_compatible;
/// assert!(semver_compatible("demo:math/adder@0.1.0", "demo:math/adder@0.1.1"));
/// assert!(!semver_compatible("demo:math/adder@0.1.0", "demo:math/adder@0.2.0"));
/// assert!(semver_compatible("a:b/c@1.0.0", "a:b/c@1.4.2"));
/// ```
pub fn semver_compatible(a: &str, b: &str) -> bool {
    let (base_a, ver_a) = split_version(a);
    let (base_b, ver_b) = split_version(b);
    if base_a != base_b {
        return false;
    }
    match (ver_a, ver_b) {
        (None, None) => true,
        (Some(x), Some(y)) => match (semver::Version::parse(x), semver::Version::parse(y)) {
            (Ok(x), Ok(y)) => {
                if !x.pre.is_empty() || !y.pre.is_empty() {
                    return x == y;
                }
                match (x.major, y.major) {
                    (0, 0) => match (x.minor, y.minor) {
                        (0, 0) => x.patch == y.patch,
                        (mx, my) => mx == my,
                    },
                    (mx, my) => mx == my,
                }
            }
            _ => x == y,
        },
        _ => false,
    }
}

/// The WASI 0.2 interfaces weld's host provides: what
/// `wasmtime_wasi::p2::add_to_linker_sync` of the pinned wasmtime-wasi adds
/// (WIT 0.2.12; wasmtime links any `0.2.x` import to it), and
/// `wasi:http/types` from wasmtime-wasi-http, which HTTP handlers import.
/// `wasi:http/outgoing-handler` (requests out of the host), `wasi:keyvalue`
/// and the rest are not among them.
pub const HOST_WASI_INTERFACES: [&str; 28] = [
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stderr",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:http/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

/// The WASI 0.3 interfaces weld's host provides: what
/// `wasmtime_wasi::p3::add_to_linker` of the pinned wasmtime-wasi adds (WIT
/// 0.3.0, component-model async), wasmtime-wasi-http's `wasi:http/types`
/// (for HTTP handlers), and the interfaces that only define
/// types (`wasi:cli/types`, `wasi:clocks/types`), which need no
/// definition. `wasi:clocks/timezone` is behind an unstable flag there and
/// so not among them.
pub const HOST_WASI_P3_INTERFACES: [&str; 22] = [
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stderr",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/types",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/system-clock",
    "wasi:clocks/types",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:http/types",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/types",
];

/// The WASI 0.2 release's version, as [`WasiRelease::P2`] names it.
pub const HOST_WASI_VERSION: &str = "0.2";

/// A WASI release weld's host provides, each from wasmtime-wasi.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WasiRelease {
    /// WASI 0.2 (`wasi:*@0.2.x`, wasmtime-wasi's `p2`).
    P2,
    /// WASI 0.3 (`wasi:*@0.3.x`, wasmtime-wasi's `p3`): async functions,
    /// streams and futures, so a component importing it is called through
    /// wasmtime's async entry points.
    P3,
}

impl WasiRelease {
    /// `0.2` or `0.3`.
    pub fn version(self) -> &'static str {
        match self {
            WasiRelease::P2 => HOST_WASI_VERSION,
            WasiRelease::P3 => "0.3",
        }
    }

    /// The interfaces the host provides at this release.
    pub fn interfaces(self) -> &'static [&'static str] {
        match self {
            WasiRelease::P2 => &HOST_WASI_INTERFACES,
            WasiRelease::P3 => &HOST_WASI_P3_INTERFACES,
        }
    }

    /// The release a version belongs to: `0.2.x` or `0.3.x`, drafts
    /// (`0.3.0-rc-…`) included.
    ///
    /// ```
    /// use weld_linker::wit::WasiRelease;
    /// assert_eq!(WasiRelease::of_version("0.3.0-rc-2025-09-16"), Some(WasiRelease::P3));
    /// assert_eq!(WasiRelease::of_version("0.2.6"), Some(WasiRelease::P2));
    /// assert_eq!(WasiRelease::of_version("1.0.0"), None);
    /// ```
    pub fn of_version(version: &str) -> Option<WasiRelease> {
        WasiRelease::of_semver(&semver::Version::parse(version).ok()?)
    }

    fn of_semver(v: &semver::Version) -> Option<WasiRelease> {
        match (v.major, v.minor) {
            (0, 2) => Some(WasiRelease::P2),
            (0, 3) => Some(WasiRelease::P3),
            _ => None,
        }
    }

    /// Why the plan resolves an import of this release to the host.
    pub fn reason(self) -> &'static str {
        match self {
            WasiRelease::P2 => "WASI 0.2, provided by the host (wasmtime-wasi p2)",
            WasiRelease::P3 => "WASI 0.3, provided by the host (wasmtime-wasi p3, async)",
        }
    }
}

/// The WASI release the host provides `name` at: one of
/// [`HOST_WASI_INTERFACES`] at a `0.2.x` version, or of
/// [`HOST_WASI_P3_INTERFACES`] at `0.3.x` (release versions only: a
/// `0.3.0-rc-…` import names a draft wasmtime-wasi does not implement).
///
/// ```
/// use weld_linker::wit::{host_wasi, WasiRelease};
/// assert_eq!(host_wasi("wasi:cli/stdout@0.2.6"), Some(WasiRelease::P2));
/// assert_eq!(host_wasi("wasi:cli/stdout@0.3.0"), Some(WasiRelease::P3));
/// assert_eq!(host_wasi("wasi:io/streams@0.3.0"), None);
/// assert_eq!(host_wasi("wasi:cli/stdout@0.3.0-rc-2025-09-16"), None);
/// assert_eq!(host_wasi("wasi:http/types@0.2.6"), Some(WasiRelease::P2));
/// assert_eq!(host_wasi("wasi:http/outgoing-handler@0.2.6"), None);
/// ```
pub fn host_wasi(name: &str) -> Option<WasiRelease> {
    let (interface, release) = released(name)?;
    release.interfaces().contains(&interface).then_some(release)
}

/// An interface name and its WASI release, for a release version only
/// (`0.2.x`, `0.3.x`; a `0.3.0-rc-…` draft is none).
fn released(name: &str) -> Option<(&str, WasiRelease)> {
    let (interface, version) = name.split_once('@')?;
    let v = semver::Version::parse(version).ok()?;
    let release = WasiRelease::of_semver(&v)?;
    v.pre.is_empty().then_some((interface, release))
}

/// The `wasi:http` handler exports weld serves, for messages.
pub const HTTP_HANDLERS: &str = "`wasi:http/incoming-handler@0.2.x` or `wasi:http/handler@0.3.x`";

/// The WASI release of a `wasi:http` handler export weld can serve
/// (`wasi:http/incoming-handler@0.2.x`, `wasi:http/handler@0.3.x`), or
/// `None`.
///
/// ```
/// use weld_linker::wit::{http_handler, WasiRelease};
/// assert_eq!(http_handler("wasi:http/incoming-handler@0.2.6"), Some(WasiRelease::P2));
/// assert_eq!(http_handler("wasi:http/handler@0.3.0"), Some(WasiRelease::P3));
/// assert_eq!(http_handler("wasi:http/handler@0.2.6"), None);
/// assert_eq!(http_handler("wasi:http/types@0.2.6"), None);
/// assert_eq!(http_handler("acme:http/incoming-handler@0.2.6"), None);
/// ```
pub fn http_handler(name: &str) -> Option<WasiRelease> {
    let (base, version) = split_version(name);
    let release = version.and_then(WasiRelease::of_version)?;
    let expected = match release {
        WasiRelease::P2 => "wasi:http/incoming-handler",
        WasiRelease::P3 => "wasi:http/handler",
    };
    (base == expected).then_some(release)
}

/// The `wasi:http` outgoing interfaces, for messages.
pub const HTTP_OUTGOING: &str = "`wasi:http/outgoing-handler@0.2.x` or `wasi:http/client@0.3.x`";

/// The WASI release of a `wasi:http` interface that sends requests out of
/// the host (`wasi:http/outgoing-handler@0.2.x`, `wasi:http/client@0.3.x`),
/// or `None`. The host provides it only to a component the manifest grants
/// `http-out`.
///
/// ```
/// use weld_linker::wit::{http_outgoing, WasiRelease};
/// assert_eq!(http_outgoing("wasi:http/outgoing-handler@0.2.6"), Some(WasiRelease::P2));
/// assert_eq!(http_outgoing("wasi:http/client@0.3.0"), Some(WasiRelease::P3));
/// assert_eq!(http_outgoing("wasi:http/client@0.3.0-rc-2025-09-16"), None);
/// assert_eq!(http_outgoing("wasi:http/types@0.2.6"), None);
/// ```
pub fn http_outgoing(name: &str) -> Option<WasiRelease> {
    let (interface, release) = released(name)?;
    let expected = match release {
        WasiRelease::P2 => "wasi:http/outgoing-handler",
        WasiRelease::P3 => "wasi:http/client",
    };
    (interface == expected).then_some(release)
}

/// Whether `name` is a WASI interface weld's host provides (see
/// [`host_wasi`]).
///
/// ```
/// use weld_linker::wit::is_host_wasi;
/// assert!(is_host_wasi("wasi:cli/stdout@0.2.6"));
/// assert!(is_host_wasi("wasi:cli/stdout@0.3.0"));
/// assert!(is_host_wasi("wasi:http/types@0.2.6"));
/// assert!(!is_host_wasi("wasi:http/outgoing-handler@0.2.6"));
/// ```
pub fn is_host_wasi(name: &str) -> bool {
    host_wasi(name).is_some()
}

/// Whether an import is provided by the host rather than by a component:
/// the WASI interfaces of [`is_host_wasi`] (wasmtime-wasi) and the wRPC
/// error interface (weld itself). Any other `wasi:*` import needs a
/// component that exports it, like any interface.
pub fn is_host_interface(name: &str) -> bool {
    is_host_wasi(name) || semver_compatible(name, WRPC_ERROR_INTERFACE)
}

/// Follows `type x = y` aliases to the defining type.
pub fn unalias(resolve: &Resolve, mut ty: Type) -> Type {
    while let Type::Id(id) = ty {
        match &resolve.types[id].kind {
            TypeDefKind::Type(inner) => ty = *inner,
            _ => break,
        }
    }
    ty
}

/// Follows aliases from a type id to the id that defines it.
pub fn unalias_id(resolve: &Resolve, mut id: TypeId) -> TypeId {
    while let TypeDefKind::Type(Type::Id(inner)) = &resolve.types[id].kind {
        id = *inner;
    }
    id
}

/// The full name of the interface that owns a type, if any.
pub fn owner_interface(resolve: &Resolve, id: TypeId) -> Option<String> {
    match resolve.types[id].owner {
        TypeOwner::Interface(i) => resolve
            .id_of(i)
            .or_else(|| resolve.interfaces[i].name.clone()),
        _ => None,
    }
}

/// Renders a type as WIT text: named types by name, anonymous ones
/// structurally (`list<u8>`, `result<string, error>`).
pub fn type_name(resolve: &Resolve, ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => {
            let def = &resolve.types[*id];
            if let Some(name) = &def.name {
                return name.clone();
            }
            match &def.kind {
                // WIT spells an owned handle by the resource's bare name.
                TypeDefKind::Handle(Handle::Own(r)) => type_name(resolve, &Type::Id(*r)),
                TypeDefKind::Handle(Handle::Borrow(r)) => {
                    format!("borrow<{}>", type_name(resolve, &Type::Id(*r)))
                }
                TypeDefKind::List(t) => format!("list<{}>", type_name(resolve, t)),
                TypeDefKind::FixedLengthList(t, n) => {
                    format!("list<{}, {n}>", type_name(resolve, t))
                }
                TypeDefKind::Map(k, v) => {
                    format!("map<{}, {}>", type_name(resolve, k), type_name(resolve, v))
                }
                TypeDefKind::Option(t) => format!("option<{}>", type_name(resolve, t)),
                TypeDefKind::Result(r) => match (&r.ok, &r.err) {
                    (None, None) => "result".into(),
                    (Some(ok), None) => format!("result<{}>", type_name(resolve, ok)),
                    (None, Some(err)) => format!("result<_, {}>", type_name(resolve, err)),
                    (Some(ok), Some(err)) => format!(
                        "result<{}, {}>",
                        type_name(resolve, ok),
                        type_name(resolve, err)
                    ),
                },
                TypeDefKind::Tuple(t) => format!(
                    "tuple<{}>",
                    t.types
                        .iter()
                        .map(|t| type_name(resolve, t))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                TypeDefKind::Future(t) => match t {
                    Some(t) => format!("future<{}>", type_name(resolve, t)),
                    None => "future".into(),
                },
                TypeDefKind::Stream(t) => match t {
                    Some(t) => format!("stream<{}>", type_name(resolve, t)),
                    None => "stream".into(),
                },
                TypeDefKind::Type(t) => type_name(resolve, t),
                other => other.as_str().to_string(),
            }
        }
    }
}

/// Renders a parameter list: `a: u32, b: u32`.
fn params_text(resolve: &Resolve, f: &Function) -> String {
    f.params
        .iter()
        .map(|p| format!("{}: {}", p.name, type_name(resolve, &p.ty)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders a function's signature: `func(a: u32, b: u32) -> u32`.
pub fn func_signature(resolve: &Resolve, f: &Function) -> String {
    let params = params_text(resolve, f);
    let prefix = match f.kind {
        FunctionKind::AsyncFreestanding
        | FunctionKind::AsyncMethod(_)
        | FunctionKind::AsyncStatic(_) => "async func",
        _ => "func",
    };
    match &f.result {
        Some(r) => format!("{prefix}({params}) -> {}", type_name(resolve, r)),
        None => format!("{prefix}({params})"),
    }
}

/// A function's name as a user reads it: `get`, `bucket.get` for a method,
/// `bucket.new` for a constructor.
pub fn display_name(f: &Function) -> String {
    if let Some(rest) = f.name.strip_prefix("[constructor]") {
        return format!("{rest}.new");
    }
    for prefix in [
        "[method]",
        "[static]",
        "[async method]",
        "[async static]",
        "[async]",
    ] {
        if let Some(rest) = f.name.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    f.name.clone()
}

/// Whether `id` is (an alias of) the `error` resource of `wrpc:rpc/error`.
pub fn is_wrpc_error_resource(resolve: &Resolve, id: TypeId) -> bool {
    let id = unalias_id(resolve, id);
    let def = &resolve.types[id];
    matches!(def.kind, TypeDefKind::Resource)
        && def.name.as_deref() == Some("error")
        && owner_interface(resolve, id)
            .map(|i| semver_compatible(&i, WRPC_ERROR_INTERFACE))
            .unwrap_or(false)
}

/// The ok type of a wRPC-safe function, `Some(None)` for `result<_, error>`,
/// `None` when the function is not wRPC-safe.
pub fn wrpc_safe_ok(resolve: &Resolve, f: &Function) -> Option<Option<Type>> {
    let Type::Id(id) = unalias(resolve, f.result?) else {
        return None;
    };
    let TypeDefKind::Result(r) = &resolve.types[id].kind else {
        return None;
    };
    let Type::Id(err) = unalias(resolve, r.err?) else {
        return None;
    };
    match &resolve.types[err].kind {
        TypeDefKind::Handle(Handle::Own(res)) if is_wrpc_error_resource(resolve, *res) => {
            Some(r.ok)
        }
        _ => None,
    }
}

/// Whether `ty` is an interface's `use` of `wrpc:rpc/error.error`.
pub fn is_wrpc_error_use(resolve: &Resolve, ty: TypeId) -> bool {
    match resolve.types[ty].kind {
        TypeDefKind::Type(Type::Id(other)) => {
            is_wrpc_error_resource(resolve, other) || is_wrpc_error_use(resolve, other)
        }
        _ => false,
    }
}

/// Whether a function may be carried over wRPC without trapping its caller:
/// exactly one result, `result<T, error>` with `error` the own handle of
/// `wrpc:rpc/error.error`.
pub fn is_wrpc_safe(resolve: &Resolve, f: &Function) -> bool {
    wrpc_safe_ok(resolve, f).is_some()
}

/// Why `f` cannot be carried over weld's wRPC framing (wRPC 0.29's, which
/// has no frames for streams, futures or async tasks): it is an async
/// function, or one of its parameters or results holds a `stream`, a
/// `future` or an `error-context`. `None` when it can be.
pub fn wrpc_async_obstacle(resolve: &Resolve, f: &Function) -> Option<String> {
    if f.kind.is_async() {
        return Some(format!("`{}` is an async function", display_name(f)));
    }
    f.params
        .iter()
        .map(|p| &p.ty)
        .chain(f.result.as_ref())
        .find_map(|ty| async_type_in(resolve, ty, 0))
        .map(|found| format!("`{}` carries a `{found}`", display_name(f)))
}

/// The first function of interface `iface` that weld's wRPC framing cannot
/// carry, and why ([`wrpc_async_obstacle`]).
pub fn interface_wrpc_async_obstacle(resolve: &Resolve, iface: InterfaceId) -> Option<String> {
    resolve.interfaces[iface]
        .functions
        .values()
        .find_map(|f| wrpc_async_obstacle(resolve, f))
}

/// The first `stream`, `future` or `error-context` inside `ty`, as WIT
/// spells it. Depth-bounded: WIT types are finite trees, and the bound
/// keeps a malformed resolve from recursing without end.
fn async_type_in(resolve: &Resolve, ty: &Type, depth: usize) -> Option<String> {
    if depth > 64 {
        return None;
    }
    let id = match ty {
        Type::ErrorContext => return Some("error-context".into()),
        Type::Id(id) => *id,
        _ => return None,
    };
    let within = |t: &Type| async_type_in(resolve, t, depth + 1);
    match &resolve.types[id].kind {
        TypeDefKind::Future(_) | TypeDefKind::Stream(_) => Some(type_name(resolve, ty)),
        TypeDefKind::Type(t)
        | TypeDefKind::List(t)
        | TypeDefKind::FixedLengthList(t, _)
        | TypeDefKind::Option(t) => within(t),
        TypeDefKind::Map(k, v) => within(k).or_else(|| within(v)),
        TypeDefKind::Result(r) => {
            r.ok.as_ref()
                .and_then(within)
                .or_else(|| r.err.as_ref().and_then(within))
        }
        TypeDefKind::Tuple(t) => t.types.iter().find_map(within),
        TypeDefKind::Record(r) => r.fields.iter().find_map(|f| within(&f.ty)),
        TypeDefKind::Variant(v) => v.cases.iter().find_map(|c| c.ty.as_ref().and_then(within)),
        _ => None,
    }
}

/// The WIT signature that would make `f` wRPC-safe.
pub fn wrpc_safe_signature(resolve: &Resolve, f: &Function) -> String {
    let params = params_text(resolve, f);
    match &f.result {
        Some(r) => format!("func({params}) -> result<{}, error>", type_name(resolve, r)),
        None => format!("func({params}) -> result<_, error>"),
    }
}

/// Names of the resources an interface defines.
pub fn resources_of(resolve: &Resolve, iface: InterfaceId) -> Vec<String> {
    resolve.interfaces[iface]
        .types
        .iter()
        .filter(|(_, id)| matches!(resolve.types[**id].kind, TypeDefKind::Resource))
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_rules() {
        assert!(semver_compatible("a:b/c", "a:b/c"));
        assert!(!semver_compatible("a:b/c", "a:b/c@0.1.0"));
        assert!(semver_compatible("a:b/c@0.0.3", "a:b/c@0.0.3"));
        assert!(!semver_compatible("a:b/c@0.0.3", "a:b/c@0.0.4"));
        assert!(!semver_compatible("a:b/c@1.0.0", "a:b/c@2.0.0"));
        assert!(!semver_compatible("a:b/c@1.0.0-rc1", "a:b/c@1.0.0"));
        assert!(semver_compatible(
            "wasi:io/error@0.2.0",
            "wasi:io/error@0.2.6"
        ));
    }

    #[test]
    fn host_interfaces() {
        assert!(is_host_interface("wasi:cli/stdout@0.2.6"));
        assert!(is_host_interface("wasi:io/streams@0.2.0"));
        assert!(is_host_interface("wasi:http/types@0.2.0"));
        assert!(!is_host_interface("wasi:http/outgoing-handler@0.2.0"));
        assert!(!is_host_interface("wasi:http/incoming-handler@0.2.6"));
        assert!(is_host_interface("wasi:cli/environment@0.3.0"));
        assert!(is_host_interface("wasi:filesystem/types@0.3.1"));
        assert!(!is_host_interface(
            "wasi:cli/environment@0.3.0-rc-2025-09-16"
        ));
        assert!(!is_host_interface("wasi:io/streams@0.3.0"));
        assert!(!is_host_interface("wasi:clocks/wall-clock@0.3.0"));
        assert!(!is_host_interface("wasi:cli/environment@0.4.0"));
        assert!(!is_host_interface("wasi:cli/environment"));
        assert!(is_host_interface("wrpc:rpc/error@0.1.0"));
        assert!(!is_host_interface("demo:math/adder@0.1.0"));
    }
}
