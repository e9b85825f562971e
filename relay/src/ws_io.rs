//! The byte stream under a lab's WebSocket, metered before the WebSocket
//! parser sees it.
//!
//! The parser caps a message's size, but not how many frames carry it nor
//! how fast they come: a page could send endless empty continuation frames
//! and keep a core busy parsing them. [`MeteredIo`] reads through a
//! [`TokenBucket`] of bytes (a page sends commands of a few hundred bytes;
//! it may send [`Limits::max_command_bytes`](protocol::Limits) a second,
//! twice that at once) and a [`FrameMeter`] that follows the frame headers
//! and fails the read when one message comes in more than
//! [`MAX_FRAGMENTS`] frames or is larger than the command limit. After such
//! a failure the stream reads and discards what the page still sends, so
//! that the close frame the session sends next is read by the page rather
//! than lost to the reset that closing a socket with unread bytes causes.
//! Writes pass through untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::throttle::TokenBucket;

/// Most frames one message may come in.
pub const MAX_FRAGMENTS: u32 = 64;

/// The message a read fails with when a message has too many fragments.
pub const TOO_MANY_FRAGMENTS: &str = "a message came in more frames than the relay accepts";
/// The message a read fails with when a message is over the size cap.
pub const TOO_BIG: &str = "a message is larger than the relay accepts";

/// Where the meter stands in the stream of client frames.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Reading a frame header; `have` of its bytes so far.
    Header { bytes: [u8; 14], have: usize },
    /// Skipping a frame's payload.
    Payload { left: u64 },
}

/// Follows client-to-server frame headers through a byte stream and counts
/// the frames of the message being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameMeter {
    stage: Stage,
    /// Frames of the data message under way (0: none under way).
    fragments: u32,
    /// Payload bytes of the data message under way.
    size: u64,
    /// Most payload bytes in one message.
    max_size: u64,
}

impl FrameMeter {
    /// A meter that lets messages of up to `max_size` bytes through.
    pub fn new(max_size: u64) -> Self {
        FrameMeter {
            stage: Stage::default_header(),
            fragments: 0,
            size: 0,
            max_size,
        }
    }
}

/// A header's length once its first two bytes are known.
fn header_length(second: u8) -> usize {
    let masked = if second & 0x80 != 0 { 4 } else { 0 };
    let extended = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + masked
}

impl FrameMeter {
    /// Feeds bytes read from the page; `Err` once a message has more than
    /// [`MAX_FRAGMENTS`] frames.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), &'static str> {
        while !bytes.is_empty() {
            match &mut self.stage {
                Stage::Payload { left } => {
                    let skipped = (*left).min(bytes.len() as u64);
                    *left -= skipped;
                    bytes = &bytes[skipped as usize..];
                    if *left == 0 {
                        self.stage = Stage::default_header();
                    }
                }
                Stage::Header {
                    bytes: header,
                    have,
                } => {
                    let needed = if *have < 2 {
                        2
                    } else {
                        header_length(header[1])
                    };
                    let take = (needed - *have).min(bytes.len());
                    header[*have..*have + take].copy_from_slice(&bytes[..take]);
                    *have += take;
                    bytes = &bytes[take..];
                    if *have == 2 && header_length(header[1]) > 2 {
                        continue;
                    }
                    if *have == needed {
                        let header = *header;
                        self.frame(&header)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A whole header is in.
    fn frame(&mut self, header: &[u8; 14]) -> Result<(), &'static str> {
        let fin = header[0] & 0x80 != 0;
        let opcode = header[0] & 0x0f;
        let length = match header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            127 => u64::from_be_bytes(header[2..10].try_into().unwrap_or([0xff; 8])),
            short => u64::from(short),
        };
        // Control frames (close, ping, pong) may come between fragments.
        if opcode < 8 {
            (self.fragments, self.size) = if opcode == 0 {
                (
                    self.fragments.saturating_add(1),
                    self.size.saturating_add(length),
                )
            } else {
                (1, length)
            };
            if self.fragments > MAX_FRAGMENTS {
                return Err(TOO_MANY_FRAGMENTS);
            }
            if self.size > self.max_size {
                return Err(TOO_BIG);
            }
            if fin {
                (self.fragments, self.size) = (0, 0);
            }
        } else if length > 125 {
            return Err(TOO_BIG);
        }
        self.stage = if length == 0 {
            Stage::default_header()
        } else {
            Stage::Payload { left: length }
        };
        Ok(())
    }
}

impl Stage {
    fn default_header() -> Self {
        Stage::Header {
            bytes: [0; 14],
            have: 0,
        }
    }
}

/// A stream whose reads are metered (see the module doc).
pub struct MeteredIo<S> {
    inner: S,
    bytes: TokenBucket,
    meter: FrameMeter,
    /// Set while reads wait for the bucket to refill.
    waiting: Option<Pin<Box<Sleep>>>,
    /// Set once the page broke a rule: everything it sends is discarded.
    discarding: bool,
}

impl<S> MeteredIo<S> {
    /// Meters `inner`: `rate` bytes a second, `burst` at once, messages of
    /// at most `max_message` bytes.
    pub fn new(inner: S, rate: u32, burst: u32, max_message: u32) -> Self {
        MeteredIo {
            inner,
            bytes: TokenBucket::new(rate, burst, Instant::now()),
            meter: FrameMeter::new(max_message.into()),
            waiting: None,
            discarding: false,
        }
    }
}

impl<S: AsyncRead + Unpin> MeteredIo<S> {
    /// Reads and drops what the page sends until it closes its side.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0; 4096];
        loop {
            let mut sink = ReadBuf::new(&mut scratch);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut sink))?;
            if sink.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MeteredIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.discarding {
            return this.poll_discard(cx);
        }
        if let Some(waiting) = this.waiting.as_mut() {
            ready!(waiting.as_mut().poll(cx));
            this.waiting = None;
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if let Err(message) = this.meter.feed(read) {
            this.discarding = true;
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, message)));
        }
        let debt = this.bytes.spend(read.len() as u64, Instant::now());
        if !debt.is_zero() {
            // These bytes are handed on; the next read waits out the debt.
            this.waiting = Some(Box::pin(tokio::time::sleep(debt)));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MeteredIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            short @ 0..=125 => bytes.push(0x80 | short as u8),
            medium @ 126..=65535 => {
                bytes.push(0x80 | 126);
                bytes.extend((medium as u16).to_be_bytes());
            }
            long => {
                bytes.push(0x80 | 127);
                bytes.extend((long as u64).to_be_bytes());
            }
        }
        bytes.extend([1, 2, 3, 4]);
        bytes.extend(payload);
        bytes
    }

    #[test]
    fn whole_messages_of_any_size_pass_in_any_chunking() {
        let mut stream = Vec::new();
        for payload in [&b""[..], b"hi", &[7; 300], &[9; 70_000]] {
            stream.extend(frame(true, 1, payload));
        }
        for chunk in [1, 3, 7, 4096] {
            let mut meter = FrameMeter::new(70_000);
            for piece in stream.chunks(chunk) {
                meter.feed(piece).unwrap();
            }
            assert_eq!(meter, FrameMeter::new(70_000), "ends between frames");
        }
    }

    #[test]
    fn a_message_over_the_size_cap_fails_whole_or_in_fragments() {
        let mut meter = FrameMeter::new(100);
        meter.feed(&frame(true, 1, &[b'x'; 100])).unwrap();
        assert_eq!(meter.feed(&frame(true, 1, &[b'x'; 101])), Err(TOO_BIG));
        let mut meter = FrameMeter::new(100);
        meter.feed(&frame(false, 1, &[b'x'; 60])).unwrap();
        assert_eq!(meter.feed(&frame(true, 0, &[b'x'; 41])), Err(TOO_BIG));
    }

    #[test]
    fn a_message_in_more_fragments_than_the_cap_fails_even_with_pings_between() {
        let mut meter = FrameMeter::new(1000);
        meter.feed(&frame(false, 1, b"{")).unwrap();
        for _ in 1..MAX_FRAGMENTS - 1 {
            meter.feed(&frame(false, 0, b"")).unwrap();
            meter.feed(&frame(true, 9, b"ping")).unwrap();
        }
        meter.feed(&frame(true, 0, b"}")).unwrap();
        // The next message starts counting again.
        meter.feed(&frame(false, 1, b"")).unwrap();
        for _ in 1..MAX_FRAGMENTS {
            meter.feed(&frame(false, 0, b"")).unwrap();
        }
        assert_eq!(meter.feed(&frame(false, 0, b"")), Err(TOO_MANY_FRAGMENTS));
    }

    #[tokio::test(start_paused = true)]
    async fn reads_past_the_byte_budget_wait_for_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut page, relay_end) = tokio::io::duplex(1 << 20);
        let mut metered = MeteredIo::new(relay_end, 1000, 1000, 4000);
        let message = frame(true, 1, &[b'x'; 1994]); // 2,000 bytes
        page.write_all(&message).await.unwrap();
        let start = tokio::time::Instant::now();
        let mut read = vec![0; message.len()];
        metered.read_exact(&mut read).await.unwrap();
        // The first read takes all 2,000 bytes (1,000 in debt); the next
        // read waits a second before it reads.
        page.write_all(&frame(true, 1, b"x")).await.unwrap();
        let mut next = [0; 7];
        metered.read_exact(&mut next).await.unwrap();
        assert!(start.elapsed() >= std::time::Duration::from_secs(1));
    }
}
