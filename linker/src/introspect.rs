//! Component bytes → the interfaces it imports and exports, with their types.
//!
//! weld reads a component's type with `wit-component`'s decoder, so what it
//! knows about a component is exactly its WIT world. [`ComponentInfo`] keeps
//! that [`Resolve`] and answers the questions the planner asks: what does
//! this component import, what does it export, and under which name.

use crate::wit;
use serde::Serialize;
use std::path::Path;
use wit_parser::{InterfaceId, Resolve, WorldId, WorldItem, WorldKey};

/// Why a file could not be introspected.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// Why (not a regular file, too large, an I/O error).
        source: crate::input::InputError,
    },
    /// WIT text that does not parse, or has no such world.
    #[error("the WIT of world `{world}` does not read")]
    Wit {
        /// The world asked for.
        world: String,
        /// wit-parser's explanation.
        #[source]
        source: weld_compose::BoxError,
    },
    /// The bytes do not start with the wasm magic number.
    #[error("`{path}` is not a WebAssembly file (it does not start with `\\0asm`)")]
    NotWasm {
        /// The file.
        path: String,
    },
    /// A core module was given where a component is needed.
    #[error("`{path}` is a core WebAssembly module, not a component; wrap it with `wasm-tools component new` (or build for `wasm32-wasip2`)")]
    CoreModule {
        /// The file.
        path: String,
    },
    /// The component does not validate: a malformed section, a type
    /// error in a function body, a feature the engine does not enable.
    #[error("`{path}` is not a valid component: {message} (at byte offset {offset})")]
    Validation {
        /// The file.
        path: String,
        /// Where in the file the validator stopped.
        offset: u64,
        /// The validator's explanation.
        message: String,
    },
    /// The component's type could not be decoded.
    #[error("`{path}` is not a valid component: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The decoder's explanation.
        reason: String,
    },
}

/// Why a provider's WIT could not be read or does not serve what it says.
#[derive(Debug, thiserror::Error)]
pub enum ProviderWitError {
    /// A WIT file (or the folder) could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file or folder.
        path: String,
        /// Why.
        #[source]
        source: crate::input::InputError,
    },
    /// A folder holds more WIT files than weld reads.
    #[error("`{path}` holds more than {max} WIT files")]
    TooManyFiles {
        /// The folder.
        path: String,
        /// The limit.
        max: usize,
    },
    /// The WIT does not parse or resolve.
    #[error("invalid WIT in `{path}`: {reason}")]
    Invalid {
        /// The file or folder.
        path: String,
        /// wit-parser's explanation.
        reason: String,
    },
    /// An interface the provider is said to serve is not in its WIT.
    #[error("`{interface}` is not defined by `{path}` (it defines {defined})")]
    Missing {
        /// The interface.
        interface: String,
        /// The file or folder.
        path: String,
        /// The interfaces it does define.
        defined: String,
    },
}

/// The most WIT files weld reads for one provider (its folder and `deps/`).
pub const MAX_WIT_FILES: usize = 256;

/// The largest WIT file weld reads.
pub const MAX_WIT_BYTES: u64 = 4 << 20;

/// The WIT sources of a provider, one source map per package: the main
/// package first, then each package under `deps/`.
fn provider_sources(path: &Path) -> Result<Vec<wit_parser::SourceMap>, ProviderWitError> {
    let read_err = |p: &Path, source| ProviderWitError::Read {
        path: p.display().to_string(),
        source,
    };
    // `stat` does not block on a FIFO; reading goes through `read_file`.
    let is_dir = std::fs::metadata(path)
        .map_err(|e| read_err(path, e.into()))?
        .is_dir();
    let mut count = 0usize;
    let mut read = |file: &Path, map: &mut wit_parser::SourceMap| {
        count += 1;
        if count > MAX_WIT_FILES {
            return Err(ProviderWitError::TooManyFiles {
                path: path.display().to_string(),
                max: MAX_WIT_FILES,
            });
        }
        let bytes = crate::input::read_file(file, MAX_WIT_BYTES).map_err(|e| read_err(file, e))?;
        let text = String::from_utf8(bytes).map_err(|_| ProviderWitError::Invalid {
            path: file.display().to_string(),
            reason: "it is not UTF-8".into(),
        })?;
        map.push(file, text);
        Ok(())
    };
    if !is_dir {
        let mut map = wit_parser::SourceMap::new();
        read(path, &mut map)?;
        return Ok(vec![map]);
    }
    let mut main = wit_parser::SourceMap::new();
    for file in wit_files(path).map_err(|e| read_err(path, e.into()))? {
        read(&file, &mut main)?;
    }
    let mut out = vec![main];
    let deps = path.join("deps");
    if deps.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(&deps)
            .map_err(|e| read_err(&deps, e.into()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for dep in entries {
            let mut map = wit_parser::SourceMap::new();
            if dep.is_dir() {
                for file in wit_files(&dep).map_err(|e| read_err(&dep, e.into()))? {
                    read(&file, &mut map)?;
                }
            } else if dep.extension().is_some_and(|e| e == "wit") {
                read(&dep, &mut map)?;
            } else {
                continue;
            }
            out.push(map);
        }
    }
    Ok(out)
}

/// The `.wit` files of a folder, sorted. A file that is a symbolic link
/// leading out of the folder is refused: the folder was checked to lie
/// where a manifest may read (`manifest` module docs), its links were not.
fn wit_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let root = std::fs::canonicalize(dir)?;
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wit"))
        .collect();
    for file in &files {
        if std::fs::canonicalize(file).is_ok_and(|real| !real.starts_with(&root)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "`{}` is a link that leads out of the folder",
                    file.display()
                ),
            ));
        }
    }
    files.sort();
    Ok(files)
}

/// The WebAssembly features weld's wasmtime engines enable, so that a
/// component that plans also compiles.
///
/// This mirrors `wasmtime::Config::features()` of the pinned wasmtime 48
/// (`src/config.rs`), built with weld's crate features (`cranelift`,
/// `component-model`, `component-model-async`; neither `gc` nor `threads`)
/// on a Cranelift host target:
///
/// * `WASM3`, wasmtime's on-by-default set (WASM2 plus tail calls, extended
///   constants, function references, multi-memory, relaxed SIMD, memory64,
///   and the `gc`, `threads` and `exceptions` flags refined below);
/// * minus `GC_TYPES` and `EXCEPTIONS` (wasmtime turns them off without its
///   `gc` feature) and `THREADS` (off without its `threads` feature);
/// * plus `COMPONENT_MODEL`;
/// * plus `CM_ASYNC`: wasmtime enables it with `concurrency_support`, which
///   weld turns on for a deployment whose components use component-model
///   async (`runtime::engine`), so an async component is valid here.
///
/// Everything else stays off, as in wasmtime: custom page sizes, stack
/// switching, the other `cm-*` extensions (error-context, fixed-length
/// lists, 64-bit, ...), and the flags wasmparser 0.263 turns on by default
/// that wasmtime 48 leaves off (`wide-arithmetic`, `compact-imports`,
/// `cm-map`, `cm-implements`). The set is built from named flags, not
/// wasmparser's defaults, so a wasmparser upgrade does not widen it. Every
/// fixture under `fixtures/wasm` validates with it (see the tests).
pub fn engine_features() -> wasmparser::WasmFeatures {
    use wasmparser::WasmFeatures as F;
    (F::WASM3 | F::COMPONENT_MODEL | F::CM_ASYNC) & !(F::GC_TYPES | F::EXCEPTIONS | F::THREADS)
}

/// Validates a whole component, core function bodies included, with the
/// features of [`engine_features`]: a body that does not type-check fails
/// `weld plan`, not only the compile of `weld run`.
///
/// Cost: linear in the code size, about 1–2 ms per fixture component
/// (14–140 KiB; all twenty, 824 KiB, in about 40 ms). `weld plan
/// examples/demo/weld.toml` (seven components, 294 KiB) went from about
/// 6.5 ms to about 15.5 ms (dev build, dependencies at `opt-level = 2`);
/// small next to the compile `weld run` would otherwise fail in.
///
/// # Errors
/// wasmparser's error at the first invalid byte.
pub fn validate(bytes: &[u8]) -> Result<(), wasmparser::BinaryReaderError> {
    wasmparser::Validator::new_with_features(engine_features())
        .validate_all(bytes)
        .map(|_| ())
}

/// What an imported or exported world item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// A named interface (`ns:pkg/name@version`) or an inline instance.
    Interface,
    /// A function at the root of the world.
    Function,
    /// A type at the root of the world.
    Type,
}

/// One import or export of a component.
#[derive(Debug, Clone)]
pub struct Item {
    /// Full name: `demo:math/adder@0.1.0` for interfaces, the kebab name for
    /// root functions and types.
    pub name: String,
    /// Its kind.
    pub kind: ItemKind,
    /// The interface, when `kind` is [`ItemKind::Interface`].
    pub interface: Option<InterfaceId>,
}

/// A component's imports and exports, with the types needed to check links.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// All the types of the component's world.
    pub resolve: Resolve,
    /// The component's world.
    pub world: WorldId,
    /// Whether its code uses the component model's async ABI (an async
    /// builtin, or a function lifted or lowered `async`), whatever its WIT
    /// says: componentize-qjs output uses `task.cancel` and
    /// `waitable-set.*` behind a WIT without one async function. Such a
    /// component needs an engine with component-model async.
    pub async_abi: bool,
}

/// Whether the code of the component `bytes` (at any depth) uses the
/// component model's async ABI: a canonical builtin of it (`task.*`,
/// `context.*`, `waitable*`, `subtask.*`, streams, futures, error contexts,
/// backpressure, cooperative threads), or a function lifted or lowered with
/// the `async` option or a callback.
///
/// # Errors
/// The bytes do not parse.
pub fn uses_async_abi(bytes: &[u8]) -> Result<bool, wasmparser::BinaryReaderError> {
    use wasmparser::{CanonicalFunction as F, CanonicalOption as O};
    let async_options = |options: &[O]| {
        options
            .iter()
            .any(|o| matches!(o, O::Async | O::Callback(_)))
    };
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let wasmparser::Payload::ComponentCanonicalSection(section) = payload? else {
            continue;
        };
        for func in section {
            let uses = match func? {
                F::Lift { options, .. } | F::Lower { options, .. } => async_options(&options),
                // The synchronous ABI, and shared-everything threads (a
                // feature of their own).
                F::ResourceNew { .. }
                | F::ResourceDrop { .. }
                | F::ResourceRep { .. }
                | F::ThreadSpawnRef { .. }
                | F::ThreadSpawnIndirect { .. }
                | F::ThreadAvailableParallelism => false,
                _ => true,
            };
            if uses {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

impl ComponentInfo {
    /// Reads and decodes a component file.
    ///
    /// # Errors
    /// [`IntrospectError::Read`] when the file cannot be read, and the errors
    /// of [`ComponentInfo::from_bytes`].
    pub fn from_file(path: &Path) -> Result<ComponentInfo, IntrospectError> {
        let bytes =
            crate::input::read_file(path, crate::input::MAX_COMPONENT_BYTES).map_err(|source| {
                IntrospectError::Read {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        ComponentInfo::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Decodes a component from bytes; `label` names it in errors.
    ///
    /// # Errors
    /// [`IntrospectError`] when the bytes are not WebAssembly, are a core
    /// module, are not a valid component, or their WIT cannot be decoded.
    pub fn from_bytes(label: &str, bytes: &[u8]) -> Result<ComponentInfo, IntrospectError> {
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(IntrospectError::NotWasm {
                path: label.to_string(),
            });
        }
        if wasmparser::Parser::is_core_wasm(bytes) {
            return Err(IntrospectError::CoreModule {
                path: label.to_string(),
            });
        }
        validate(bytes).map_err(|e| IntrospectError::Validation {
            path: label.to_string(),
            offset: e.offset(),
            message: e.message().to_string(),
        })?;
        match wit_component::decode(bytes) {
            Ok(wit_component::DecodedWasm::Component(resolve, world)) => Ok(ComponentInfo {
                resolve,
                world,
                // It validated, so it parses.
                async_abi: uses_async_abi(bytes).unwrap_or(true),
            }),
            Ok(wit_component::DecodedWasm::WitPackage(..)) => Err(IntrospectError::Invalid {
                path: label.to_string(),
                reason: "it is a WIT package encoded as wasm, not a component".to_string(),
            }),
            Err(e) => Err(IntrospectError::Invalid {
                path: label.to_string(),
                reason: format!("{e:#}"),
            }),
        }
    }

    /// The description of an external wRPC server that serves `exports`,
    /// defined by the WIT at `path`: a file, or a folder of `.wit` files
    /// whose dependencies sit under `deps/` (a folder or a file per
    /// package), as wit-parser lays them out. Every file is read as
    /// [`crate::input::read_file`] reads (regular files only, at most
    /// [`MAX_WIT_BYTES`] each, [`MAX_WIT_FILES`] in all), then parsed in
    /// memory. The result is a component whose world exports `exports`, so
    /// the planner checks an importer against it as against a component.
    ///
    /// # Errors
    /// [`ProviderWitError`] when the WIT cannot be read (too large, too many
    /// files), does not parse, or does not define an interface `exports` names.
    pub fn from_provider_wit(
        name: &str,
        path: &Path,
        exports: &[String],
    ) -> Result<ComponentInfo, ProviderWitError> {
        let label = path.display().to_string();
        let invalid = |e: &dyn std::fmt::Display| ProviderWitError::Invalid {
            path: label.clone(),
            reason: format!("{e:#}"),
        };
        let mut resolve = Resolve::default();
        let groups = provider_sources(path)?
            .into_iter()
            .map(|map| map.parse().map_err(|(map, e)| invalid(&e.render(&map))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut groups = groups.into_iter();
        let main = groups.next().expect("the main package is always read");
        if let Err(e) = resolve.push_groups(main, groups.collect()) {
            return Err(invalid(&resolve.render_error(&e.into())));
        }
        for interface in exports {
            let defined = resolve
                .interfaces
                .iter()
                .any(|(id, _)| resolve.id_of(id).as_deref() == Some(interface.as_str()));
            if !defined {
                let all = resolve
                    .interfaces
                    .iter()
                    .filter_map(|(id, _)| resolve.id_of(id))
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>();
                return Err(ProviderWitError::Missing {
                    interface: interface.clone(),
                    path: label,
                    defined: if all.is_empty() {
                        "no interfaces".into()
                    } else {
                        all.join(", ")
                    },
                });
            }
        }
        // A world of weld's own that exports what the provider serves.
        let mut text = format!("package weld:provider-{name};\nworld provider {{\n");
        for interface in exports {
            text.push_str(&format!("  export {interface};\n"));
        }
        text.push_str("}\n");
        let package = resolve
            .push_source("<provider world>", &text)
            .map_err(|e| invalid(&resolve.render_error(&e)))?;
        let world = resolve
            .select_world(&[package], Some("provider"))
            .map_err(|e| invalid(&e))?;
        Ok(ComponentInfo {
            resolve,
            world,
            async_abi: false,
        })
    }

    /// Builds the description of a component from WIT text and a world name,
    /// without any wasm: used by property tests and the fuzzer.
    ///
    /// ```
    /// let info = weld_linker::introspect::ComponentInfo::from_wit(
    ///     "package a:b@0.1.0; interface i { f: func() -> u32; } world w { export i; }",
    ///     "w",
    /// ).unwrap();
    /// assert_eq!(info.exports()[0].name, "a:b/i@0.1.0");
    /// ```
    ///
    /// # Errors
    /// [`IntrospectError::Wit`] when the text does not parse or has no such
    /// world.
    pub fn from_wit(source: &str, world: &str) -> Result<ComponentInfo, IntrospectError> {
        let wit = |e: anyhow::Error| IntrospectError::Wit {
            world: world.to_string(),
            source: e.into(),
        };
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("input.wit", source).map_err(wit)?;
        let world = resolve.select_world(&[pkg], Some(world)).map_err(wit)?;
        Ok(ComponentInfo {
            resolve,
            world,
            async_abi: false,
        })
    }

    fn items<'a>(&'a self, map: &'a indexmap::IndexMap<WorldKey, WorldItem>) -> Vec<Item> {
        map.iter()
            .map(|(key, item)| {
                let name = self.resolve.name_world_key(key);
                match item {
                    WorldItem::Interface { id, .. } => Item {
                        name,
                        kind: ItemKind::Interface,
                        interface: Some(*id),
                    },
                    WorldItem::Function(_) => Item {
                        name,
                        kind: ItemKind::Function,
                        interface: None,
                    },
                    WorldItem::Type { .. } => Item {
                        name,
                        kind: ItemKind::Type,
                        interface: None,
                    },
                }
            })
            .collect()
    }

    /// The component's imports, in declaration order.
    pub fn imports(&self) -> Vec<Item> {
        self.items(&self.resolve.worlds[self.world].imports)
    }

    /// The interface behind the import named `name`, when it is one.
    pub fn import_interface(&self, name: &str) -> Option<InterfaceId> {
        self.imports()
            .into_iter()
            .find(|i| i.name == name)
            .and_then(|i| i.interface)
    }

    /// The component's exports, in declaration order.
    pub fn exports(&self) -> Vec<Item> {
        self.items(&self.resolve.worlds[self.world].exports)
    }

    /// The exported interface that can satisfy an import named `wanted`:
    /// the same name, or a semver-compatible version of it (exact first).
    pub fn find_export(&self, wanted: &str) -> Option<Item> {
        // Only interfaces satisfy interface imports: a root function that
        // happens to share an inline interface's name does not.
        let exports: Vec<Item> = self
            .exports()
            .into_iter()
            .filter(|e| e.kind == ItemKind::Interface)
            .collect();
        if let Some(exact) = exports.iter().find(|e| e.name == wanted) {
            return Some(exact.clone());
        }
        exports
            .into_iter()
            .find(|e| wit::semver_compatible(wanted, &e.name))
    }

    /// The component's world as WIT text.
    pub fn wit_text(&self) -> String {
        let world = &self.resolve.worlds[self.world];
        let mut printer = wit_component::WitPrinter::default();
        let main = world.package.expect("decoded worlds belong to a package");
        let nested: Vec<_> = self
            .resolve
            .packages
            .iter()
            .map(|(id, _)| id)
            .filter(|id| *id != main)
            .collect();
        match printer.print(&self.resolve, main, &nested) {
            Ok(()) => printer.output.to_string(),
            Err(e) => format!("// could not print the component's WIT: {e:#}\n"),
        }
    }

    /// The *wire view* of the component's exported interfaces, as WIT: what
    /// a wRPC client or server that is not weld generates bindings from.
    /// A wRPC-safe function (`result<T, wrpc:rpc/error.error>`) carries only
    /// its ok value on the wire, so it is printed returning `T`; other
    /// functions are printed as they are. The `error` type an interface
    /// `use`s only for that is dropped. Printed: the packages of the
    /// exported interfaces, and those their types come from.
    pub fn wire_wit(&self) -> String {
        let mut resolve = self.resolve.clone();
        let exported: Vec<InterfaceId> = self
            .exports()
            .into_iter()
            .filter_map(|e| e.interface)
            .filter(|id| {
                resolve.interfaces[*id]
                    .package
                    .is_some_and(|p| resolve.packages[p].name.namespace != "root")
            })
            .collect();
        if exported.is_empty() {
            return "// the component exports no interfaces\n".to_string();
        }
        for &id in &exported {
            let rewritten: Vec<(String, Option<wit_parser::Type>)> = resolve.interfaces[id]
                .functions
                .iter()
                .filter_map(|(name, f)| wit::wrpc_safe_ok(&resolve, f).map(|ok| (name.clone(), ok)))
                .collect();
            let all_safe = rewritten.len() == resolve.interfaces[id].functions.len();
            for (name, ok) in rewritten {
                resolve.interfaces[id].functions[&name].result = ok;
            }
            if all_safe {
                let errors: Vec<String> = resolve.interfaces[id]
                    .types
                    .iter()
                    .filter(|(_, ty)| wit::is_wrpc_error_use(&resolve, **ty))
                    .map(|(n, _)| n.clone())
                    .collect();
                for name in errors {
                    resolve.interfaces[id].types.shift_remove(&name);
                }
            }
        }
        // The exported interfaces' packages, then those their types use.
        let mut packages: Vec<wit_parser::PackageId> = Vec::new();
        let mut queue = exported.clone();
        let mut seen = std::collections::HashSet::new();
        while let Some(id) = queue.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(p) = resolve.interfaces[id].package {
                if !packages.contains(&p) {
                    packages.push(p);
                }
            }
            for ty in resolve.interfaces[id].types.values() {
                if let wit_parser::TypeDefKind::Type(wit_parser::Type::Id(other)) =
                    resolve.types[*ty].kind
                {
                    if let wit_parser::TypeOwner::Interface(i) = resolve.types[other].owner {
                        queue.push(i);
                    }
                }
            }
        }
        let main = packages[0];
        let mut printer = wit_component::WitPrinter::default();
        match printer.print(&resolve, main, &packages[1..]) {
            Ok(()) => format!(
                "// The wire view of this component's exports: a wRPC-safe function's\n// `result<T, wrpc:rpc/error.error>` carries only `T` on the wire.\n{}",
                printer.output
            ),
            Err(e) => format!("// could not print the wire view: {e:#}\n"),
        }
    }

    /// A structured description for `weld inspect --json`.
    pub fn describe(&self) -> ComponentDescription {
        let describe_items = |items: Vec<Item>| -> Vec<ItemDescription> {
            items
                .into_iter()
                .map(|item| {
                    let functions = match item.interface {
                        Some(id) => self.resolve.interfaces[id]
                            .functions
                            .values()
                            .map(|f| FunctionDescription {
                                name: f.name.clone(),
                                signature: wit::func_signature(&self.resolve, f),
                                wrpc_safe: wit::is_wrpc_safe(&self.resolve, f),
                            })
                            .collect(),
                        None => Vec::new(),
                    };
                    let resources = match item.interface {
                        Some(id) => wit::resources_of(&self.resolve, id),
                        None => Vec::new(),
                    };
                    ItemDescription {
                        name: item.name,
                        kind: item.kind,
                        functions,
                        resources,
                    }
                })
                .collect()
        };
        ComponentDescription {
            imports: describe_items(self.imports()),
            exports: describe_items(self.exports()),
        }
    }
}

/// `weld inspect --json` output: see `docs/json.md`.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentDescription {
    /// Imported items.
    pub imports: Vec<ItemDescription>,
    /// Exported items.
    pub exports: Vec<ItemDescription>,
}

/// One import or export in [`ComponentDescription`].
#[derive(Debug, Clone, Serialize)]
pub struct ItemDescription {
    /// Full name.
    pub name: String,
    /// Interface, function or type.
    pub kind: ItemKind,
    /// Functions of an interface, as WIT signatures.
    pub functions: Vec<FunctionDescription>,
    /// Names of the resources an interface defines.
    pub resources: Vec<String>,
}

/// One function in [`ItemDescription`].
#[derive(Debug, Clone, Serialize)]
pub struct FunctionDescription {
    /// The function's name as the component model spells it
    /// (`[method]bucket.get` for methods).
    pub name: String,
    /// WIT signature, e.g. `func(a: u32, b: u32) -> u32`.
    pub signature: String,
    /// Whether it returns `result<_, wrpc:rpc/error.error>`.
    pub wrpc_safe: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_wasm_and_core_modules() {
        let err = ComponentInfo::from_bytes("x.wasm", b"hello world!").unwrap_err();
        assert!(err.to_string().contains("not a WebAssembly file"), "{err}");
        let core = b"\0asm\x01\0\0\0";
        let err = ComponentInfo::from_bytes("m.wasm", core).unwrap_err();
        assert!(err.to_string().contains("core WebAssembly module"), "{err}");
        let truncated = b"\0asm\x0d\0\x01\0\x07";
        let err = ComponentInfo::from_bytes("t.wasm", truncated).unwrap_err();
        assert!(err.to_string().contains("not a valid component"), "{err}");
    }

    /// Every fixture validates with the engine's features (and decodes),
    /// and full validation stays cheap: its time is printed for the
    /// record (`--nocapture`) and bounded loosely.
    #[test]
    fn every_fixture_validates_with_the_engine_features() {
        let mut total = std::time::Duration::ZERO;
        let mut size = 0;
        for name in weld_fixtures::names() {
            let bytes = weld_fixtures::bytes(name);
            let started = std::time::Instant::now();
            validate(&bytes).unwrap_or_else(|e| panic!("fixture `{name}`: {e}"));
            total += started.elapsed();
            size += bytes.len();
            ComponentInfo::from_bytes(name, &bytes)
                .unwrap_or_else(|e| panic!("fixture `{name}`: {e}"));
        }
        eprintln!(
            "validated {} fixtures ({} KiB) in {total:?}",
            weld_fixtures::names().count(),
            size / 1024
        );
        assert!(total < std::time::Duration::from_secs(2), "{total:?}");
    }

    #[test]
    fn finds_semver_compatible_exports() {
        let info = ComponentInfo::from_wit(
            "package a:b@0.1.1; interface i { f: func(); } world w { export i; }",
            "w",
        )
        .unwrap();
        assert_eq!(info.find_export("a:b/i@0.1.0").unwrap().name, "a:b/i@0.1.1");
        assert!(info.find_export("a:b/i@0.2.0").is_none());
        assert!(info.find_export("a:b/j@0.1.1").is_none());
    }
}
