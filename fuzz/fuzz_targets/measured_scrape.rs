//! Arbitrary bytes → `Measured::parse`, as `weld plan --costs FILE` reads
//! a saved scrape (a file anyone may have written). Nothing here may
//! panic, and every link it accepts has quantiles that are durations in
//! order: 0 < p50 ≤ p99, finite, and failures no more than calls only
//! when the scrape says so (failures are read as given).

#![no_main]

use libfuzzer_sys::fuzz_target;
use weld_linker::cost::Measured;

fuzz_target!(|data: &[u8]| {
    let Ok(measured) = Measured::parse("fuzz", data) else {
        return;
    };
    for (link, cost) in measured.costs() {
        assert!(
            cost.p50_ns.is_finite() && cost.p99_ns.is_finite(),
            "{link:?}: {cost:?}"
        );
        assert!(
            0.0 <= cost.p50_ns && cost.p50_ns <= cost.p99_ns,
            "{link:?}: {cost:?}"
        );
        for f in &cost.functions {
            assert!(f.p50_ns <= f.p99_ns, "{link:?}: {f:?}");
        }
    }
});
