//! The pooling allocator, sized from a deployment.
//!
//! A store made per call with wasmtime's default (on-demand) allocator maps
//! each linear memory on instantiation and unmaps it on drop; on a machine
//! whose other cores run the server's I/O thread and its callers, every
//! unmap is a TLB shootdown interrupting them. The pooling allocator
//! reserves slots once and reuses them (a slot keeps its module's
//! copy-on-write image mapped), so a per-call store maps nothing.
//!
//! The pool is sized from what the host's components declare, read from
//! their bytes before anything is compiled (the engine, and so the pool,
//! must exist first): per store, the component instances (one per unit),
//! core instances, memories and tables of all the host's units (an upper
//! bound, since a per-call store instantiates only what its call needs);
//! per module, the most memories and tables any module defines; table slots
//! as large as the largest table's initial size; and memory slots as large
//! as the largest `max-memory` of the host's components (4 GiB, the whole
//! 32-bit space, for any component without one). A 64-bit memory that
//! could outgrow its slot makes the deployment unpoolable: it would be
//! capped silently, so such a deployment keeps the on-demand allocator.
//!
//! Cost: slots are virtual address space (4 GiB + guard per memory slot),
//! not memory; pages are committed as guests touch them and returned when
//! a slot is reused.

use wasmparser::{Parser, Payload};

/// The 32-bit address space: the most a memory of a 32-bit module can hold.
const WASM32_MAX: u64 = 1 << 32;

/// A pooling allocator's size: how many of each thing may be live at once,
/// over every store of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolLimits {
    /// Component instances (one per unit per store).
    pub component_instances: u32,
    /// Core module instances.
    pub core_instances: u32,
    /// Linear memories.
    pub memories: u32,
    /// Tables.
    pub tables: u32,
    /// The most memories one module defines.
    pub memories_per_module: u32,
    /// The most tables one module defines.
    pub tables_per_module: u32,
    /// Elements per table slot.
    pub table_elements: u64,
    /// Bytes per memory slot: the most any memory may grow to.
    pub max_memory: u64,
}

impl PoolLimits {
    /// The fixed pool `weld bench` measures instantiation with: 64 component
    /// instances, 128 memories and tables, 64 MiB memories.
    pub const BENCH: PoolLimits = PoolLimits {
        component_instances: 64,
        core_instances: 256,
        memories: 128,
        tables: 128,
        memories_per_module: 1,
        tables_per_module: 1,
        table_elements: 20_000,
        max_memory: 64 << 20,
    };

    /// A pool holding `stores` live stores of the components `bytes` (all
    /// of one host), each memory allowed to grow to `max_memory`; `None`
    /// when a component cannot be read or has a 64-bit memory that could
    /// grow past `max_memory` (see the module docs).
    pub fn for_components<'a>(
        bytes: impl IntoIterator<Item = &'a [u8]>,
        units: u32,
        stores: u32,
        max_memory: u64,
    ) -> Option<PoolLimits> {
        let mut per_store = Footprint::default();
        for b in bytes {
            per_store.add(&Footprint::of(b, max_memory)?);
        }
        let stores = stores.max(1);
        let total = |n: u32| n.max(1).saturating_mul(stores);
        Some(PoolLimits {
            component_instances: total(units),
            // wasmtime instantiates adapter modules of its own besides the
            // components' modules; a core instance slot is a counter, not
            // reserved memory, so the margin costs nothing.
            core_instances: total(
                per_store
                    .core_instances
                    .saturating_mul(2)
                    .saturating_add(64),
            ),
            memories: total(per_store.memories),
            tables: total(per_store.tables),
            memories_per_module: per_store.memories_per_module.max(1),
            tables_per_module: per_store.tables_per_module.max(1),
            // wasmtime's default, or the largest table, whichever is more.
            table_elements: per_store.table_elements.max(20_000),
            max_memory,
        })
    }

    /// The allocator's configuration.
    pub(crate) fn config(&self) -> wasmtime::PoolingAllocationConfig {
        let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(self.component_instances)
            .total_core_instances(self.core_instances)
            .total_memories(self.memories)
            .total_tables(self.tables)
            .max_memories_per_module(self.memories_per_module)
            .max_tables_per_module(self.tables_per_module)
            .table_elements(clamp(self.table_elements))
            .max_memory_size(clamp(self.max_memory))
            // A slot's first pages are reset in place when it is freed
            // instead of being given back with madvise: per-request
            // instances (HTTP, per-call serving) otherwise fault them in
            // again, and each fault and madvise flushes the TLB of every
            // core running one of the process's threads (a profile of
            // `weld serve --http` under load: a third of its CPU). With
            // the kernel's PAGEMAP_SCAN (Linux 6.7+) only the pages the
            // instance dirtied are reset; without it, all of them are
            // zeroed with memset.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        pool
    }
}

/// How much of each freed memory and table slot stays resident (reset in
/// place rather than with madvise): a Rust guest's 1 MiB stack, and the
/// data and heap start above it.
const KEEP_RESIDENT: usize = 2 << 20;

/// What instantiating one component once takes from a pool.
#[derive(Debug, Default)]
struct Footprint {
    core_instances: u32,
    memories: u32,
    tables: u32,
    memories_per_module: u32,
    tables_per_module: u32,
    table_elements: u64,
}

impl Footprint {
    /// Counts the core instances, and the memories and tables every core
    /// module defines, through nested components; `None` when the bytes do
    /// not parse or a 64-bit memory could outgrow `max_memory`.
    fn of(bytes: &[u8], max_memory: u64) -> Option<Footprint> {
        let mut f = Footprint::default();
        // Memories and tables of the module being read (modules do not
        // nest, so one pair of counters serves).
        let (mut memories, mut tables) = (0u32, 0u32);
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.ok()? {
                Payload::InstanceSection(s) => {
                    f.core_instances = f.core_instances.saturating_add(s.count());
                }
                Payload::MemorySection(s) => {
                    for m in s {
                        let m = m.ok()?;
                        let largest = m
                            .maximum
                            .map(|pages| pages.saturating_mul(1 << m.page_size_log2.unwrap_or(16)));
                        if m.memory64 && largest.is_none_or(|l| l > max_memory.min(WASM32_MAX)) {
                            return None;
                        }
                        memories += 1;
                    }
                }
                Payload::TableSection(s) => {
                    for t in s {
                        let t = t.ok()?;
                        f.table_elements = f.table_elements.max(t.ty.initial);
                        tables += 1;
                    }
                }
                Payload::End(_) => {
                    // The end of a module or of a component; a component
                    // defines no memories or tables of its own, so its end
                    // adds nothing.
                    f.memories = f.memories.saturating_add(memories);
                    f.tables = f.tables.saturating_add(tables);
                    f.memories_per_module = f.memories_per_module.max(memories);
                    f.tables_per_module = f.tables_per_module.max(tables);
                    (memories, tables) = (0, 0);
                }
                _ => {}
            }
        }
        Some(f)
    }

    fn add(&mut self, other: &Footprint) {
        self.core_instances = self.core_instances.saturating_add(other.core_instances);
        self.memories = self.memories.saturating_add(other.memories);
        self.tables = self.tables.saturating_add(other.tables);
        self.memories_per_module = self.memories_per_module.max(other.memories_per_module);
        self.tables_per_module = self.tables_per_module.max(other.tables_per_module);
        self.table_elements = self.table_elements.max(other.table_elements);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }

    #[test]
    fn counts_what_nested_modules_define() {
        let bytes = component(
            r#"(component
                (core module $a (memory 1) (table 30000 funcref))
                (core module $b (memory 1))
                (core instance (instantiate $a))
                (core instance (instantiate $b))
                (core instance (instantiate $b)))"#,
        );
        let limits = PoolLimits::for_components([&bytes[..]], 1, 3, WASM32_MAX).unwrap();
        // (3 × 2 + 64) per store.
        assert_eq!(limits.core_instances, 210);
        assert_eq!(limits.component_instances, 3);
        // Counted per definition, with every store.
        assert_eq!(limits.memories, 6);
        assert_eq!(limits.tables, 3);
        assert_eq!(limits.table_elements, 30_000);
        assert_eq!(limits.memories_per_module, 1);
        assert_eq!(limits.max_memory, WASM32_MAX);
    }

    #[test]
    fn a_64_bit_memory_that_could_outgrow_its_slot_is_not_pooled() {
        let unbounded = component("(component (core module (memory i64 1)))");
        assert_eq!(
            PoolLimits::for_components([&unbounded[..]], 1, 1, WASM32_MAX),
            None
        );
        let bounded = component("(component (core module (memory i64 1 16)))");
        assert!(PoolLimits::for_components([&bounded[..]], 1, 1, WASM32_MAX).is_some());
    }

    #[test]
    fn bytes_that_are_not_a_component_are_not_pooled() {
        assert_eq!(
            PoolLimits::for_components([&b"\0asm\x0d\0\x01\0garbage"[..]], 1, 1, WASM32_MAX),
            None
        );
    }
}
