//! Guest limits: a deadline per call (wasmtime epoch interruption) and a
//! memory cap per store (a `ResourceLimiter`).
//!
//! The deadline is kept in ticks of the epoch ticker ([`TICK`], 1 ms) and
//! counted down in steps of at most [`CHECK_TICKS`]: at each step the epoch
//! callback looks at the runtime's interrupt flag, so a shutdown reaches a
//! looping guest within a step even when it has no deadline. Arming a call
//! costs a store write and `set_epoch_deadline` (no clock read).
//!
//! A limiter belongs to a store and is not told which memory grows, so the
//! cap is per store: every memory of the store is capped at the smallest
//! `max-memory` of the store's components, and every table at that many
//! bytes counted as 8 bytes per element.
//!
//! [`TICK`]: super::engine::TICK

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wasmtime::UpdateDeadline;

/// Most ticks between two looks at the interrupt flag (10 ms): a shutdown
/// interrupts a guest within this, at the cost of one callback per step.
pub(crate) const CHECK_TICKS: u64 = 10;

/// Ticks left meaning "no deadline".
const NO_DEADLINE: u64 = u64::MAX;

/// Why the epoch callback stopped a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The call's deadline passed.
    Deadline,
    /// The runtime was interrupted (a server shutting down).
    Interrupted,
}

/// The deadline state of one store.
pub(crate) struct Guard {
    /// Ticks of the current call's deadline not yet handed to wasmtime.
    ticks_left: u64,
    /// Set by [`Runtime::interrupt`](super::Runtime::interrupt).
    interrupt: Arc<AtomicBool>,
    /// Why the last call was stopped, if it was.
    pub stopped: Option<Stop>,
}

impl Guard {
    pub fn new(interrupt: Arc<AtomicBool>) -> Guard {
        Guard {
            ticks_left: NO_DEADLINE,
            interrupt,
            stopped: None,
        }
    }

    /// Starts a call with `deadline` ticks (none: only interrupts stop it);
    /// returns the ticks to give `Store::set_epoch_deadline`.
    pub fn arm(&mut self, deadline: Option<u64>) -> u64 {
        self.stopped = None;
        match deadline {
            None => {
                self.ticks_left = NO_DEADLINE;
                CHECK_TICKS
            }
            Some(total) => {
                let step = total.min(CHECK_TICKS);
                self.ticks_left = total - step;
                step
            }
        }
    }

    /// The epoch deadline was reached: stop, or extend by the next step.
    pub(super) fn step(&mut self) -> UpdateDeadline {
        if self.interrupt.load(Ordering::Relaxed) {
            self.stopped = Some(Stop::Interrupted);
            return UpdateDeadline::Interrupt;
        }
        match self.ticks_left {
            NO_DEADLINE => UpdateDeadline::Continue(CHECK_TICKS),
            0 => {
                self.stopped = Some(Stop::Deadline);
                UpdateDeadline::Interrupt
            }
            left => {
                let step = left.min(CHECK_TICKS);
                self.ticks_left = left - step;
                UpdateDeadline::Continue(step)
            }
        }
    }
}

/// The memory cap of one store.
pub(crate) struct MemoryCap {
    /// Bytes each memory may reach.
    pub cap: u64,
    /// The component whose `max-memory` it is (the smallest in the store).
    pub set_by: String,
    /// The size the last refused growth asked for.
    pub refused: Option<u64>,
}

/// Bytes a table element is counted as.
const TABLE_ELEMENT_BYTES: u64 = 8;

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.cap {
            // Refused, not trapped: wasm's `memory.grow` returns -1 and the
            // guest may cope; weld remembers it to name the cause if the
            // guest then traps.
            self.refused = Some(desired as u64);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = (desired as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        if bytes > self.cap {
            self.refused = Some(bytes);
            return Ok(false);
        }
        Ok(true)
    }
}
