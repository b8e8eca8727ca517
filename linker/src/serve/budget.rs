//! The server's in-flight budget: the memory that calls in flight may hold
//! — the bytes of parameters as they arrive, then their decoded values —
//! counted in KiB permits of one semaphore.
//!
//! Every byte a peer sends is reserved before it is read ([`Metered`]), so
//! parameters held half-sent count; a message is decoded only within what
//! the budget has left ([`Budget::available`]), and the decoded values'
//! share is taken before the bytes' is given back. So what calls hold never
//! passes the budget by more than one decode's scratch, whatever they send.

use super::report::Cause;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a reader reserves at a time: a message's bytes are reserved in
/// steps as large as the reads of `wrpc::client::read_with`.
const STEP_KIB: u32 = 64;

/// A share of the budget, given back when dropped.
pub(super) type Share = OwnedSemaphorePermit;

/// The memory calls in flight may hold.
pub(super) struct Budget {
    kib: Arc<Semaphore>,
    total_kib: u32,
}

fn kib_of(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .max(1)
}

impl Budget {
    /// A budget of `bytes` (at least 1 KiB).
    pub fn new(bytes: usize) -> Budget {
        let total_kib = kib_of(bytes);
        Budget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// The bytes not held by any call now.
    pub fn available(&self) -> usize {
        self.kib.available_permits().saturating_mul(1024)
    }

    /// `bytes` of the budget: at once when they are free, else waiting up
    /// to `wait`.
    ///
    /// # Errors
    /// `over-budget` for what could never fit or found no room in time,
    /// `stopping` when the server stops.
    pub async fn take(&self, bytes: usize, wait: Duration) -> Result<Share, (Cause, String)> {
        let kib = kib_of(bytes);
        let total = u64::from(self.total_kib) * 1024;
        if kib > self.total_kib {
            return Err((
                Cause::OverBudget,
                format!("the decoded parameters take {bytes} bytes, more than the server's {total}-byte in-flight budget"),
            ));
        }
        if let Ok(share) = Arc::clone(&self.kib).try_acquire_many_owned(kib) {
            return Ok(share);
        }
        match tokio::time::timeout(wait, Arc::clone(&self.kib).acquire_many_owned(kib)).await {
            Ok(Ok(share)) => Ok(share),
            Ok(Err(_)) => Err((Cause::Stopping, "the server is stopping".to_string())),
            Err(_) => Err((
                Cause::OverBudget,
                format!(
                    "the decoded parameters ({bytes} bytes) found no room in the server's {total}-byte in-flight budget within {} ms",
                    wait.as_millis()
                ),
            )),
        }
    }

    /// A reader of `inner` that reserves every byte before reading it.
    pub fn meter<R>(&self, inner: R) -> Metered<R> {
        Metered {
            inner,
            kib: Arc::clone(&self.kib),
            total_kib: self.total_kib,
            held: None,
            unused: 0,
            pending: None,
        }
    }
}

/// A message larger than the whole budget: refused as it arrives, not
/// after waiting for room that can never come.
#[derive(Debug, thiserror::Error)]
#[error("the parameters take more than the server's {total}-byte in-flight budget")]
pub(super) struct PastBudget {
    /// The budget, in bytes.
    pub total: u64,
}

type Acquire = Pin<Box<dyn Future<Output = Result<Share, tokio::sync::AcquireError>> + Send>>;

/// A reader that reads no byte the budget has not reserved: it reserves
/// [`STEP_KIB`] at a time, waiting while the budget is full (the caller's
/// read timeout bounds that), and holds the reservation until dropped or
/// [`Metered::release`]d.
pub(super) struct Metered<R> {
    inner: R,
    kib: Arc<Semaphore>,
    total_kib: u32,
    held: Option<Share>,
    /// Reserved bytes not read yet.
    unused: usize,
    pending: Option<Acquire>,
}

impl<R> Metered<R> {
    /// Gives the bytes' reservation back (once their message is decoded,
    /// and its values hold their own share).
    pub fn release(&mut self) {
        self.held = None;
        self.unused = 0;
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Metered<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.unused == 0 {
            let held = this.held.as_ref().map_or(0, |h| h.num_permits());
            if held + STEP_KIB as usize > this.total_kib as usize {
                // Waiting could only end in the read timeout: this message
                // alone holds the whole budget.
                return Poll::Ready(Err(io::Error::other(PastBudget {
                    total: u64::from(this.total_kib) * 1024,
                })));
            }
            let kib = Arc::clone(&this.kib);
            let pending = this
                .pending
                .get_or_insert_with(|| Box::pin(kib.acquire_many_owned(STEP_KIB)));
            let share = ready!(pending.as_mut().poll(cx))
                .map_err(|_| io::Error::other("the server is stopping"))?;
            this.pending = None;
            match &mut this.held {
                Some(held) => held.merge(share),
                None => this.held = Some(share),
            }
            this.unused = STEP_KIB as usize * 1024;
        }
        let max = buf.remaining().min(this.unused);
        let mut part = buf.take(max);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
        let n = part.filled().len();
        // SAFETY: `part` is the unfilled front of `buf`; the inner reader
        // initialised and filled its first `n` bytes.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        this.unused -= n;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    /// `bytes` bytes already sent to a reader metered by `budget` (the
    /// sending half is returned so the stream stays open).
    async fn sent(
        budget: &Budget,
        bytes: usize,
    ) -> (tokio::io::DuplexStream, Metered<tokio::io::DuplexStream>) {
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        tokio::io::AsyncWriteExt::write_all(&mut tx, &vec![7u8; bytes])
            .await
            .unwrap();
        (tx, budget.meter(rx))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn bytes_are_reserved_before_they_are_read() {
        let budget = Budget::new(256 * 1024);
        let (_tx, mut metered) = sent(&budget, 200 * 1024).await;
        let mut got = vec![0u8; 200 * 1024];
        metered.read_exact(&mut got).await.unwrap();
        // 200 KiB read: four 64 KiB steps held, 0 of 256 KiB left.
        assert_eq!(budget.available(), 0);
        // A second reader waits: nothing is read past the budget.
        let (mut tx2, rx2) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(&mut tx2, b"x")
            .await
            .unwrap();
        let mut other = budget.meter(rx2);
        let mut one = [0u8; 1];
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), other.read_exact(&mut one)).await;
        assert!(blocked.is_err(), "read past a full budget");
        metered.release();
        // The waiting reader's step is granted as the bytes are released.
        assert_eq!(budget.available(), 192 * 1024);
        other.read_exact(&mut one).await.unwrap();
        assert_eq!(one, [b'x']);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_message_past_the_whole_budget_is_refused_not_waited_for() {
        let budget = Budget::new(128 * 1024);
        let (_tx, mut metered) = sent(&budget, 200 * 1024).await;
        let mut got = vec![0u8; 200 * 1024];
        let e = metered.read_exact(&mut got).await.unwrap_err();
        assert!(e.get_ref().is_some_and(|e| e.is::<PastBudget>()), "{e}");
    }
}
