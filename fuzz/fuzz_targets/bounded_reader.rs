//! Fuzzes weld's bounded reading of wRPC's framed transports
//! (`weld_linker::wrpc::bounded`): arbitrary bytes as one connection, read
//! as `weld serve` reads one (header, then the parameter frames) within the
//! 16 MiB message cap plus the header cap. It must fail cleanly or succeed,
//! never panic, never hand on more than the budget, and never allocate for a
//! declared length (run with `-malloc_limit_mb` near the cap: a declared
//! 1 GiB frame that were allocated would fail the run).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt as _;
use weld_linker::wrpc::bounded::{budget_for, Frames};

const MAX_BYTES: usize = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async {
        let budget = budget_for(MAX_BYTES);
        let mut frames = Frames::new(data, budget);
        if frames.read_header().await.is_err() {
            return;
        }
        // As `read_with` does: fixed chunks into a buffer that grows only
        // by what arrived.
        let mut chunk = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            match frames.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert!(total as u64 <= budget && total <= data.len());
    });
});
