//! How a long measurement reports its progress: the harness says how many
//! cells a stage has and names each as it starts; the caller draws it (a
//! bar on a terminal, a line per cell in a log) or ignores it.

/// A receiver of progress, one stage at a time.
pub trait Progress {
    /// A stage of `cells` measurements begins.
    fn begin(&mut self, cells: usize);
    /// The next cell begins: `message` names it ("fused (tuned): add").
    fn step(&mut self, message: &str);
    /// The stage is over.
    fn end(&mut self);
}

/// Runs `work` as one stage of `cells` measurements: begun before it, and
/// ended whatever it returns, so a failure is not printed under a bar.
///
/// # Errors
/// Whatever `work` returns.
pub fn stage<T, E>(
    progress: &mut dyn Progress,
    cells: usize,
    work: impl FnOnce(&mut dyn Progress) -> Result<T, E>,
) -> Result<T, E> {
    progress.begin(cells);
    let done = work(progress);
    progress.end();
    done
}

/// Progress nobody watches.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&mut self, _cells: usize) {}
    fn step(&mut self, _message: &str) {}
    fn end(&mut self) {}
}
