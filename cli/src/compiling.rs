//! Progress while a component compiles: a spinner with the unit, its size
//! and the time so far on stderr, then one line saying how long it took.
//! Only on a terminal: piped or captured, stderr stays what the guest
//! writes (as with `wasmtime run`), and a cached component shows nothing.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use weld_linker::runtime::engine::{CompileEvent, CompileProgress};

/// The progress reporter for `weld run` and `weld serve`, when stderr is a
/// terminal.
pub fn progress() -> Option<CompileProgress> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);
    Some(CompileProgress::new(move |event| {
        let mut bar = bar.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            CompileEvent::Started { unit, bytes } => {
                let spinner = indicatif::ProgressBar::new_spinner();
                spinner.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                        .expect("a valid template"),
                );
                spinner.set_message(format!("compiling {unit} ({})", megabytes(bytes)));
                spinner.enable_steady_tick(std::time::Duration::from_millis(100));
                *bar = Some(spinner);
            }
            CompileEvent::Finished {
                unit,
                bytes,
                elapsed,
            } => {
                if let Some(spinner) = bar.take() {
                    spinner.finish_and_clear();
                }
                eprintln!(
                    "compiled {unit} ({}) in {:.1} s",
                    megabytes(bytes),
                    elapsed.as_secs_f64()
                );
            }
        }
    }))
}

fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
