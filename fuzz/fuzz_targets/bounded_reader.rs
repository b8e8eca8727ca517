//! Fuzzes weld's bounded reading of wRPC's framed transports
//! (`weld_linker::wrpc::bounded`): arbitrary bytes as one connection, read
//! as `weld serve` reads one (header, then the parameters of a
//! `list<u8>` function through `read_with`, the reader every served call
//! and every reply goes through) within the 16 MiB message cap plus the
//! header cap. It must fail cleanly or succeed, never panic, never hand on
//! more than the budget, and never allocate for a declared length (run with
//! `-malloc_limit_mb` near the cap: a declared 1 GiB frame or list that
//! were allocated would fail the run).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weld_linker::wrpc::bounded::{budget_for, Frames};
use weld_linker::wrpc::client::{read_with, Message};
use weld_linker::wrpc::codec::typed::WireList;
use weld_linker::wrpc::codec::Limits;

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
        let limits = Limits {
            max_bytes: MAX_BYTES,
            ..Limits::DEFAULT
        };
        let message = Message::new(&limits, false, |b: &[u8]| {
            <(Vec<u8>,)>::decode(b, &limits)
        });
        if let Ok(((list,), size)) = read_with(&mut frames, message).await {
            assert!(size as u64 <= budget && size <= data.len());
            assert!(list.len() <= size);
        }
    });
});
