//! weld's own reading and writing of wRPC's framed transports (TCP, Unix),
//! bounded in memory against a hostile peer.
//!
//! `wrpc-transport` 0.29's frame reader zero-fills a buffer of a frame's
//! declared length (up to 4 GiB) before the bytes arrive, queues up to 128
//! frames per connection and reads a declared name length whole. Here the
//! same wire (wRPC's SPEC.md, as `wrpc-transport` 0.29 writes it) is read
//! incrementally instead:
//!
//! * invocation header: version byte `0`, instance and function as
//!   LEB128-u32-length-prefixed UTF-8 (together at most [`HEADER_CAP`]);
//! * then frames: path length (LEB128 u32), path indices (LEB128 u32 each),
//!   data length (LEB128 u32), data. The invocation's first frame (the
//!   parameters) follows the header directly; a reply is frames only.
//!
//! [`Bounded`] lets at most a byte budget through from the socket;
//! [`Frames`] hands the data of root-path frames on as a byte stream, into
//! the caller's buffer, so nothing is allocated for a declared length, and
//! refuses a declared length the budget could never deliver.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::io::{BufReader, ReadBuf};

/// Most bytes an invocation header (version, instance, function) may take,
/// and the slack a connection's budget gives frame headers beyond the
/// message cap.
pub const HEADER_CAP: usize = 4096;

/// The per-connection byte budget for messages of at most `max_bytes`.
pub fn budget_for(max_bytes: usize) -> u64 {
    (max_bytes as u64).saturating_add(HEADER_CAP as u64)
}

/// Why the framed wire was refused. Carried inside an [`io::Error`]
/// (see [`wire_error`]) so it passes through `AsyncRead`.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The peer sent more than one connection may bring.
    #[error("the peer sent more than the {budget}-byte budget of one connection")]
    OverBudget {
        /// The budget.
        budget: u64,
    },
    /// A declared length is more than the connection may still bring.
    #[error("the peer declared {declared} bytes for the {what}, more than the {left} bytes the connection may still bring")]
    Declared {
        /// What was declared.
        what: &'static str,
        /// The declared length.
        declared: u64,
        /// What the budget still allows.
        left: u64,
    },
    /// Not framing version 0.
    #[error("unsupported wRPC framing version {0}")]
    Version(u8),
    /// A length or index that is not a LEB128 u32.
    #[error("the {0} is not a valid LEB128 u32")]
    Varint(&'static str),
    /// A frame for a nested stream: weld's links carry none.
    #[error("a frame for a nested stream (a path of {0} indices); weld's links carry no streams")]
    Path(u32),
    /// A name that is not UTF-8.
    #[error("the {0} is not UTF-8")]
    Utf8(&'static str),
    /// The stream ended inside a frame or the header.
    #[error("the stream ended inside {0}")]
    Truncated(&'static str),
}

impl WireError {
    /// Whether this is the peer sending or declaring more than its budget.
    pub fn is_over_budget(&self) -> bool {
        matches!(
            self,
            WireError::OverBudget { .. } | WireError::Declared { .. }
        )
    }
}

/// The [`WireError`] inside `e`, if it is one.
pub fn wire_error(e: &io::Error) -> Option<&WireError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<WireError>())
}

fn invalid(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// An [`AsyncRead`] that lets at most `budget` bytes through from `inner`
/// and fails with [`WireError::OverBudget`] when the peer sends more.
pub struct Bounded<R> {
    inner: tokio::io::Take<R>,
    budget: u64,
}

impl<R: AsyncRead + Unpin> Bounded<R> {
    /// Wraps `inner` with a budget of `budget` bytes.
    pub fn new(inner: R, budget: u64) -> Bounded<R> {
        Bounded {
            inner: inner.take(budget),
            budget,
        }
    }

    /// Bytes the peer may still send.
    pub fn left(&self) -> u64 {
        self.inner.limit()
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Bounded<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 || self.inner.limit() > 0 {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        // Spent: one more byte is over budget, none is a clean end.
        let mut probe = [0u8; 1];
        let mut one = ReadBuf::new(&mut probe);
        ready!(Pin::new(self.inner.get_mut()).poll_read(cx, &mut one))?;
        if one.filled().is_empty() {
            return Poll::Ready(Ok(()));
        }
        let budget = self.budget;
        Poll::Ready(Err(invalid(WireError::OverBudget { budget })))
    }
}

/// A LEB128 u32 read a byte at a time.
#[derive(Default, Clone, Copy)]
struct Varint {
    value: u32,
    shift: u32,
}

impl Varint {
    /// Takes one byte: the value when it was the last one.
    fn push(&mut self, b: u8, what: &'static str) -> Result<Option<u32>, WireError> {
        let bits = u32::from(b & 0x7f);
        // The fifth byte may carry only the top 4 bits of a u32.
        if self.shift == 28 && (b & 0x80 != 0 || bits > 0x0f) {
            return Err(WireError::Varint(what));
        }
        self.value |= bits << self.shift;
        if b & 0x80 == 0 {
            return Ok(Some(self.value));
        }
        self.shift += 7;
        Ok(None)
    }

    fn started(&self) -> bool {
        self.shift > 0
    }
}

#[derive(Clone, Copy)]
enum State {
    PathLen(Varint),
    DataLen(Varint),
    Data(u64),
}

/// The data of a framed connection's root-path frames, as one byte stream.
///
/// Reads through a small fixed buffer over a [`Bounded`] socket half; each
/// frame's data goes straight into the reader's buffer, so memory does not
/// depend on any declared length. A declared data length past what the
/// budget can still deliver is refused as soon as it is read.
pub struct Frames<R> {
    inner: BufReader<Bounded<R>>,
    state: State,
}

impl<R: AsyncRead + Unpin> Frames<R> {
    /// Frames read from `rx`, which may bring at most `budget` bytes.
    pub fn new(rx: R, budget: u64) -> Frames<R> {
        Frames {
            inner: BufReader::with_capacity(8 * 1024, Bounded::new(rx, budget)),
            state: State::PathLen(Varint::default()),
        }
    }

    /// Bytes the budget can still deliver, counting what is buffered.
    fn left(&self) -> u64 {
        self.inner.get_ref().left() + self.inner.buffer().len() as u64
    }

    async fn byte(&mut self, inside: &'static str) -> io::Result<u8> {
        match self.inner.read_u8().await {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(invalid(WireError::Truncated(inside)))
            }
            r => r,
        }
    }

    async fn varint(&mut self, what: &'static str) -> io::Result<u32> {
        let mut v = Varint::default();
        loop {
            let b = self.byte(what).await?;
            if let Some(n) = v.push(b, what).map_err(invalid)? {
                return Ok(n);
            }
        }
    }

    /// Reads an invocation header: the instance and function called. Names
    /// are refused by their declared length, before they are read, when the
    /// header would pass [`HEADER_CAP`].
    ///
    /// # Errors
    /// `InvalidData` for a header of another version or past [`HEADER_CAP`],
    /// the stream's error when it fails or ends first.
    pub async fn read_header(&mut self) -> io::Result<(String, String)> {
        let start = self.left();
        let version = self.byte("the invocation header").await?;
        if version != 0 {
            return Err(invalid(WireError::Version(version)));
        }
        let instance = self.name(start, "instance name").await?;
        let function = self.name(start, "function name").await?;
        Ok((instance, function))
    }

    async fn name(&mut self, start: u64, what: &'static str) -> io::Result<String> {
        let len = self.varint(what).await?;
        let used = start - self.left();
        let room = (HEADER_CAP as u64).saturating_sub(used);
        if u64::from(len) > room {
            return Err(invalid(WireError::Declared {
                what,
                declared: len.into(),
                left: room,
            }));
        }
        // At most HEADER_CAP bytes, and grown only as they arrive.
        let mut bytes = Vec::new();
        (&mut self.inner)
            .take(len.into())
            .read_to_end(&mut bytes)
            .await?;
        if bytes.len() < len as usize {
            return Err(invalid(WireError::Truncated(what)));
        }
        String::from_utf8(bytes).map_err(|_| invalid(WireError::Utf8(what)))
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Frames<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let this = &mut *self;
        loop {
            let avail = ready!(Pin::new(&mut this.inner).poll_fill_buf(cx))?;
            match &mut this.state {
                State::Data(0) => this.state = State::PathLen(Varint::default()),
                State::Data(left) => {
                    if avail.is_empty() {
                        return Poll::Ready(Err(invalid(WireError::Truncated("a frame's data"))));
                    }
                    let n = avail
                        .len()
                        .min(buf.remaining())
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    buf.put_slice(&avail[..n]);
                    *left -= n as u64;
                    Pin::new(&mut this.inner).consume(n);
                    return Poll::Ready(Ok(()));
                }
                State::PathLen(v) => {
                    let Some(&b) = avail.first() else {
                        if v.started() {
                            return Poll::Ready(Err(invalid(WireError::Truncated(
                                "a frame's path length",
                            ))));
                        }
                        // Between frames: a clean end of the stream.
                        return Poll::Ready(Ok(()));
                    };
                    let done = v.push(b, "frame's path length").map_err(invalid)?;
                    Pin::new(&mut this.inner).consume(1);
                    match done {
                        None => {}
                        Some(0) => this.state = State::DataLen(Varint::default()),
                        Some(n) => return Poll::Ready(Err(invalid(WireError::Path(n)))),
                    }
                }
                State::DataLen(v) => {
                    let Some(&b) = avail.first() else {
                        return Poll::Ready(Err(invalid(WireError::Truncated(
                            "a frame's data length",
                        ))));
                    };
                    let done = v.push(b, "frame's data length").map_err(invalid)?;
                    Pin::new(&mut this.inner).consume(1);
                    if let Some(n) = done {
                        let left = this.left();
                        if u64::from(n) > left {
                            return Poll::Ready(Err(invalid(WireError::Declared {
                                what: "next frame",
                                declared: n.into(),
                                left,
                            })));
                        }
                        this.state = State::Data(n.into());
                    }
                }
            }
        }
    }
}

fn too_long(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("the {what} is longer than wRPC framing allows (4 GiB)"),
    )
}

/// The bytes of an invocation of `function` on `instance` with encoded
/// `params`, as `wrpc-transport` 0.29 writes them: header and the
/// parameters as one root-path frame.
///
/// # Errors
/// `InvalidInput` when a name or the parameters are longer than a frame can
/// declare.
pub fn invocation(instance: &str, function: &str, params: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(17 + instance.len() + function.len() + params.len());
    out.push(0);
    for (what, name) in [("instance name", instance), ("function name", function)] {
        write_u32(
            &mut out,
            u32::try_from(name.len()).map_err(|_| too_long(what))?,
        );
        out.extend_from_slice(name.as_bytes());
    }
    out.push(0);
    write_u32(
        &mut out,
        u32::try_from(params.len()).map_err(|_| too_long("parameters"))?,
    );
    out.extend_from_slice(params);
    Ok(out)
}

/// Sets up a TCP connection that sends one message and then shuts its
/// sending side, as every wRPC connection does (the invocation one way,
/// the reply the other): `TCP_NODELAY`, so the message is not held back
/// for an acknowledgement. (Corking instead, so the FIN rides on the last
/// data segment, was measured: 8 segments a call instead of 10, no change
/// in scalar latency, 64 KiB calls ~3 % slower; not kept.)
pub fn one_message(stream: &tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// Writes `data` as one root-path frame (nothing when it is empty, as
/// `wrpc-transport` does for an empty write). Head and data go out in one
/// vectored write where the socket takes them: with `TCP_NODELAY`, two
/// writes would be two segments and, often, two wake-ups of the reader.
///
/// # Errors
/// The stream's error.
pub async fn write_frame(tx: &mut (impl AsyncWrite + Unpin), data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut head = Vec::with_capacity(6);
    head.push(0);
    write_u32(
        &mut head,
        u32::try_from(data.len()).map_err(|_| too_long("message"))?,
    );
    let (mut head, mut data) = (&head[..], data);
    while !head.is_empty() {
        let n = tx
            .write_vectored(&[io::IoSlice::new(head), io::IoSlice::new(data)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        data = &data[n - from_head..];
    }
    tx.write_all(data).await
}

/// LEB128 of a `u32` length, as the framing writes it.
fn write_u32(out: &mut Vec<u8>, v: u32) {
    super::codec::write_uleb(out, u64::from(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Header and all root data of `wire`, or the error.
    fn read_all(wire: &[u8], budget: u64) -> io::Result<(String, String, Vec<u8>)> {
        block_on(async {
            let mut frames = Frames::new(wire, budget);
            let (instance, function) = frames.read_header().await?;
            let mut data = Vec::new();
            frames.read_to_end(&mut data).await?;
            Ok((instance, function, data))
        })
    }

    fn wire(e: io::Error) -> WireError {
        let inner = e.into_inner().expect("a wire error");
        *inner.downcast::<WireError>().expect("a wire error")
    }

    #[test]
    fn an_invocation_reads_back_with_more_frames() {
        let mut bytes = invocation("demo:greet/greeter@0.1.0", "hello", b"\x02hi").unwrap();
        // The byte layout wrpc-transport 0.29 writes.
        assert_eq!(&bytes[..8], &[0x00, 24, b'd', b'e', b'm', b'o', b':', b'g']);
        assert_eq!(&bytes[bytes.len() - 5..], &[0x00, 3, 2, b'h', b'i']);
        block_on(write_frame(&mut bytes, b"!!")).unwrap();
        block_on(write_frame(&mut bytes, b"")).unwrap();
        let (i, f, data) = read_all(&bytes, 1 << 20).unwrap();
        assert_eq!(
            (i.as_str(), f.as_str()),
            ("demo:greet/greeter@0.1.0", "hello")
        );
        assert_eq!(data, b"\x02hi!!");
    }

    #[test]
    fn a_declared_frame_past_the_budget_is_refused_before_its_bytes() {
        let mut bytes = invocation("i", "f", b"").unwrap();
        bytes.truncate(bytes.len() - 1);
        bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x04]); // 1 GiB
        match wire(read_all(&bytes, 1 << 20).unwrap_err()) {
            WireError::Declared { declared, .. } => assert_eq!(declared, 1 << 30),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_declared_name_past_the_header_cap_is_refused_unread() {
        let bytes = [0x00, 0x80, 0x80, 0x80, 0x80, 0x01]; // 256 MiB, nothing after
        match wire(read_all(&bytes, 1 << 30).unwrap_err()) {
            WireError::Declared { what, declared, .. } => {
                assert_eq!((what, declared), ("instance name", 256 << 20))
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn bytes_past_the_budget_fail_even_in_small_frames() {
        let mut bytes = invocation("i", "f", &[7; 100]).unwrap();
        for _ in 0..100 {
            block_on(write_frame(&mut bytes, &[7; 100])).unwrap();
        }
        let e = wire(read_all(&bytes, 5000).unwrap_err());
        assert!(e.is_over_budget(), "{e}");
        assert!(read_all(&bytes, bytes.len() as u64).is_ok());
    }

    #[test]
    fn malformed_framing_is_an_error_not_a_hang() {
        for (bytes, want) in [
            (&[0x01][..], "unsupported wRPC framing version 1"),
            (&[0x00, 0x01], "the stream ended inside instance name"),
            (&[0x00, 0x01, 0xff], "the instance name is not UTF-8"),
            (
                &[0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x7f],
                "the frame's data length is not a valid LEB128 u32",
            ),
            (
                &[0x00, 0x00, 0x00, 0x01, 0x00, 0x00],
                "a frame for a nested stream (a path of 1 indices); weld's links carry no streams",
            ),
            (
                &[0x00, 0x00, 0x00, 0x00, 0x03, b'a'],
                "the stream ended inside a frame's data",
            ),
        ] {
            let e = read_all(bytes, 1 << 20).unwrap_err();
            assert_eq!(wire(e).to_string(), want, "{bytes:?}");
        }
    }
}
