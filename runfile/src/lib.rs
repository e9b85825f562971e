//! The saved-run file: a recorded run (the simulation's or a live lab's)
//! as a file that the page saves and opens again anywhere, with no relay.
//!
//! A run file is gzip-compressed JSON lines (`zcat run.loopscope.gz | head`
//! shows it):
//!
//! ```text
//! {"format":"loopscope-run","version":1,"protocol":1,"source":"live","scenario":null}
//! {"type":"hello","protocol":1,"lab":3,"echo_addr":"127.0.0.1:4100",…}
//! {"type":"events","events":[{"at":0,"type":"listening",…},…]}
//! {"type":"fresh_run"}
//! {"type":"events","events":[…]}
//! {"type":"end","events":1234}
//! ```
//!
//! * The first line is the [`Header`]: the file format and its version, the
//!   [`PROTOCOL_VERSION`] of the events, where the run came from and the
//!   scenario's link.
//! * A live lab's run goes on with the relay's hello, then the events in
//!   batches: these lines are the protocol's own [`ServerMessage`]s, exactly
//!   as the relay sends them (so the page reads them with the code it reads
//!   the relay with).
//! * Between them, the moments the page began a fresh run (a server restart
//!   whose old clients are no longer counted).
//! * The last line counts the events, so a file cut short at a line's end is
//!   still found out (gzip's own trailer finds the rest).
//!
//! Reading treats every file as hostile: its size, the bytes it unpacks to,
//! each line's length and the number of events are capped ([`Limits`]);
//! serde_json's nesting limit stops deep nesting; every failure is a
//! [`RunFileError`] whose words a person can act on. Nothing here panics on
//! any input (see the property tests).

use std::io::{self, BufRead, BufReader, Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use protocol::{Event, Hello, PROTOCOL_VERSION, ServerMessage};
use serde::{Deserialize, Serialize};

/// The `format` field of every run file's first line.
pub const FORMAT: &str = "loopscope-run";
/// The run file format this crate writes and reads. Bumped when a line
/// changes shape; older versions are then read or refused by name.
pub const VERSION: u32 = 1;
/// The name a saved file gets, before its first dot.
pub const FILE_SUFFIX: &str = ".loopscope.gz";

/// Where a recorded run came from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunSource {
    /// The page's simulator.
    Simulation,
    /// A live lab on a relay.
    Live,
}

/// The first line of a run file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The run file format, [`VERSION`] when written by this crate.
    pub version: u32,
    /// The [`PROTOCOL_VERSION`] the events speak.
    pub protocol: u32,
    /// Where the run came from.
    pub source: RunSource,
    /// The scenario's link (`?model=…`), when the run was a simulation.
    pub scenario: Option<String>,
    /// Events of the run let go before its first one here (the page keeps
    /// the newest of a long run): the file's first event is the run's
    /// `let_go`-th, and what happened before it is not in the file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub let_go: u64,
    /// The relay's hello, when the run was a live lab's (its own line, the
    /// second).
    #[serde(skip)]
    pub hello: Option<Hello>,
}

impl Header {
    /// A header for a run from `source`, in this crate's format.
    pub fn new(source: RunSource, scenario: Option<String>, hello: Option<Hello>) -> Self {
        Header {
            format: FORMAT.to_owned(),
            version: VERSION,
            protocol: PROTOCOL_VERSION,
            source,
            scenario,
            let_go: 0,
            hello,
        }
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// What a run holds after its header, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// Events, oldest first.
    Events(Vec<Event>),
    /// The page began a fresh run here: the server's next `listening`
    /// starts the counters, lanes and sockets from nothing.
    FreshRun,
}

/// The lines that are not the protocol's messages.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Marker {
    /// [`Entry::FreshRun`].
    FreshRun,
    /// The last line: how many events came before it.
    End {
        /// Events in the whole file.
        events: u64,
    },
}

/// One line after the header, as read.
enum Line {
    Message(ServerMessage),
    Marker(Marker),
}

/// How much a file may take from the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The compressed file's size.
    pub max_file_bytes: u64,
    /// What it unpacks to.
    pub max_unpacked_bytes: u64,
    /// One line, unpacked.
    pub max_line_bytes: u64,
    /// Events in the run.
    pub max_events: u64,
}

impl Default for Limits {
    /// Room for the longest run a page records (2 million events unpack to
    /// about 200 MB and pack to about 20 MB).
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 << 20,
            max_unpacked_bytes: 512 << 20,
            max_line_bytes: 8 << 20,
            max_events: 2_000_000,
        }
    }
}

/// Why a file could not be read, in words a person can act on.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum RunFileError {
    /// Too large to open.
    #[error("the file is {}; a saved run is at most {}", in_mib(*size), in_mib(*limit))]
    FileTooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// Not a run file at all.
    #[error("this is not a saved Loopscope run: {0}")]
    NotARun(String),
    /// Written by a newer Loopscope.
    #[error(
        "this run was saved by a newer Loopscope (run format {found}); this page reads format {VERSION}: open it with a newer Loopscope"
    )]
    NewerFormat {
        /// The file's format version.
        found: u32,
    },
    /// Written in a format this page no longer reads.
    #[error(
        "this run was saved in run format {found}, which this page no longer reads (it reads format {VERSION})"
    )]
    OlderFormat {
        /// The file's format version.
        found: u32,
    },
    /// Its events speak another protocol version.
    #[error(
        "this run's events speak protocol version {found}; this page speaks version {PROTOCOL_VERSION}"
    )]
    OtherProtocol {
        /// The file's protocol version.
        found: u32,
    },
    /// A line that is not what it should be.
    #[error("line {line} of the run is damaged: {reason}")]
    Damaged {
        /// Its number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Well formed, but not a run a page could have recorded.
    #[error("this run cannot be shown: {0}")]
    Implausible(String),
    /// The file ends before its last line.
    #[error("the file is cut short ({0}); save the run again")]
    Truncated(String),
    /// A line beyond [`Limits::max_line_bytes`].
    #[error("line {line} of the run is longer than {}", in_mib(*limit))]
    LineTooLong {
        /// Its number, from 1.
        line: u64,
        /// The cap.
        limit: u64,
    },
    /// More unpacked data than [`Limits::max_unpacked_bytes`].
    #[error("the run unpacks to more than {}", in_mib(*limit))]
    TooMuchData {
        /// The cap.
        limit: u64,
    },
    /// More events than [`Limits::max_events`].
    #[error("the run holds more than {limit} events")]
    TooManyEvents {
        /// The cap.
        limit: u64,
    },
}

/// Writes a run file as the run is walked: the header, then entries, then
/// the last line. Lines go straight into `W` (a compressor, or the page's
/// list of parts for the browser's own compressor), so a run of a million
/// events never exists as one string.
pub struct Writer<W: Write> {
    out: W,
    events: u64,
}

/// Events per `events` line.
pub const EVENTS_PER_LINE: usize = 1024;

impl Writer<GzEncoder<Vec<u8>>> {
    /// Starts a gzip-compressed file in memory with `header`.
    pub fn new(header: &Header) -> Self {
        Writer::plain(header, GzEncoder::new(Vec::new(), Compression::default()))
    }

    /// Ends the file and gives its compressed bytes.
    pub fn finish(self) -> Vec<u8> {
        // Compressing into memory cannot fail.
        self.end().finish().unwrap_or_default()
    }
}

impl<W: Write> Writer<W> {
    /// Starts a file with `header` (and its hello), its lines uncompressed
    /// into `out`.
    pub fn plain(header: &Header, out: W) -> Self {
        let mut writer = Writer { out, events: 0 };
        writer.line(header);
        if let Some(hello) = &header.hello {
            writer.line(&ServerMessage::Hello(hello.clone()));
        }
        writer
    }

    /// Adds events, oldest first (in lines of [`EVENTS_PER_LINE`]).
    pub fn events<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        /// A [`ServerMessage::Events`] of borrowed events.
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Line<'a> {
            Events { events: &'a [&'a Event] },
        }
        let mut chunk: Vec<&Event> = Vec::with_capacity(EVENTS_PER_LINE);
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            chunk.clear();
            chunk.extend(events.by_ref().take(EVENTS_PER_LINE));
            self.line(&Line::Events { events: &chunk });
            self.events += chunk.len() as u64;
        }
    }

    /// Marks where the page began a fresh run.
    pub fn fresh_run(&mut self) {
        self.line(&Marker::FreshRun);
    }

    /// Writes the last line and gives `out` back.
    pub fn end(mut self) -> W {
        let events = self.events;
        self.line(&Marker::End { events });
        self.out
    }

    fn line(&mut self, value: &impl Serialize) {
        // The sinks are memory: serializing protocol types into them
        // cannot fail.
        let _ = serde_json::to_writer(&mut self.out, value);
        let _ = self.out.write_all(b"\n");
    }
}

/// Reads a run file one entry at a time: the header first (read when the
/// reader is made), then [`Reader::next_entry`] until it gives `None`.
pub struct Reader<'a> {
    lines: Lines<Box<dyn Read + 'a>>,
    header: Header,
    /// A line read ahead (after the header, looking for the hello).
    ahead: Option<(u64, Line)>,
    events: u64,
    finished: bool,
}

impl<'a> Reader<'a> {
    /// Reads the header of `bytes` (and the hello after it), gzip-compressed
    /// (as saved) or plain JSON lines.
    pub fn new(bytes: &'a [u8], limits: &Limits) -> Result<Self, RunFileError> {
        check_size(bytes.len() as u64, limits)?;
        let unpacked: Box<dyn Read + 'a> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(gunzip::Gunzip::new(bytes).map_err(|error| unreadable(1, &error))?)
        } else {
            Box::new(bytes)
        };
        let mut lines = Lines {
            reader: BufReader::new(unpacked),
            limits: *limits,
            number: 0,
            unpacked: 0,
            buffer: Vec::new(),
            ended: true,
        };
        let Some(first) = lines.next()? else {
            return Err(RunFileError::NotARun("it is empty".to_owned()));
        };
        let header = read_header(first)?;
        let mut reader = Reader {
            lines,
            header,
            ahead: None,
            events: 0,
            finished: false,
        };
        match reader.line()? {
            (_, Line::Message(ServerMessage::Hello(hello))) => {
                if hello.protocol != PROTOCOL_VERSION {
                    return Err(RunFileError::OtherProtocol {
                        found: hello.protocol,
                    });
                }
                reader.header.hello = Some(hello);
            }
            other => reader.ahead = Some(other),
        }
        Ok(reader)
    }

    /// The file's first line, with the relay's hello.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next entry; `None` once the last line has been read and checked.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, RunFileError> {
        if self.finished {
            return Ok(None);
        }
        let (line, read) = match self.ahead.take() {
            Some(ahead) => ahead,
            None => self.line()?,
        };
        match read {
            Line::Marker(Marker::End { events: counted }) => {
                if counted != self.events {
                    return Err(RunFileError::Damaged {
                        line,
                        reason: format!(
                            "it counts {counted} events, but {} came before it",
                            self.events
                        ),
                    });
                }
                if self.lines.next()?.is_some() {
                    return Err(damaged_text(line + 1, "nothing may follow the last line"));
                }
                self.finished = true;
                Ok(None)
            }
            Line::Message(ServerMessage::Events { events }) => {
                self.events += events.len() as u64;
                let limit = self.lines.limits.max_events;
                if self.events > limit {
                    return Err(RunFileError::TooManyEvents { limit });
                }
                Ok(Some(Entry::Events(events)))
            }
            Line::Marker(Marker::FreshRun) => Ok(Some(Entry::FreshRun)),
            Line::Message(ServerMessage::Hello(_)) => {
                Err(damaged_text(line, "a hello may only follow the header"))
            }
        }
    }

    /// The next line and its number: a protocol message, or one of the
    /// run's own markers.
    fn line(&mut self) -> Result<(u64, Line), RunFileError> {
        let number = self.lines.number + 1;
        let Some(bytes) = self.lines.next()? else {
            return Err(RunFileError::Truncated(format!(
                "it ends after line {} without its last line",
                self.lines.number
            )));
        };
        let text =
            std::str::from_utf8(bytes).map_err(|_| damaged_text(number, "it is not UTF-8 text"))?;
        // The relay's own messages first, read as the page reads the relay.
        match serde_json::from_str::<ServerMessage>(text) {
            Ok(message) => Ok((number, Line::Message(message))),
            Err(error) => match serde_json::from_str::<Marker>(text) {
                Ok(marker) => Ok((number, Line::Marker(marker))),
                // The file's end, in the middle of a line.
                Err(_) if !self.lines.ended && error.is_eof() => Err(RunFileError::Truncated(
                    format!("it stops in the middle of line {number}"),
                )),
                Err(_) => Err(damaged(number, &error)),
            },
        }
    }
}

/// Reads a run file, handing each entry to `visit`
/// as it is read; gives the header.
pub fn read_with(
    bytes: &[u8],
    limits: &Limits,
    mut visit: impl FnMut(Entry),
) -> Result<Header, RunFileError> {
    let mut reader = Reader::new(bytes, limits)?;
    while let Some(entry) = reader.next_entry()? {
        visit(entry);
    }
    Ok(reader.header)
}

/// A whole run file in memory: its header and its entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The first line.
    pub header: Header,
    /// Every entry, in order (without the last line).
    pub entries: Vec<Entry>,
}

impl Run {
    /// Every event of the run, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.entries.iter().flat_map(|entry| match entry {
            Entry::Events(events) => events.as_slice(),
            _ => &[],
        })
    }
}

/// Reads a whole run file (see [`read_with`]).
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Run, RunFileError> {
    let mut entries = Vec::new();
    let header = read_with(bytes, limits, |entry| entries.push(entry))?;
    Ok(Run { header, entries })
}

/// Refuses a file too large to open, before reading it.
pub fn check_size(size: u64, limits: &Limits) -> Result<(), RunFileError> {
    if size > limits.max_file_bytes {
        return Err(RunFileError::FileTooLarge {
            size,
            limit: limits.max_file_bytes,
        });
    }
    Ok(())
}

fn read_header(bytes: &[u8]) -> Result<Header, RunFileError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| RunFileError::NotARun("its first line is not text".to_owned()))?;
    /// What every version's first line has, read before the rest.
    #[derive(Deserialize)]
    struct Probe {
        format: Option<String>,
        version: Option<u32>,
        protocol: Option<u32>,
    }
    let probe: Probe = serde_json::from_str(text)
        .map_err(|_| RunFileError::NotARun("its first line is not a run's header".to_owned()))?;
    if probe.format.as_deref() != Some(FORMAT) {
        return Err(RunFileError::NotARun(format!(
            "its first line does not say \"format\": \"{FORMAT}\""
        )));
    }
    match probe.version {
        Some(VERSION) => {}
        Some(found) if found > VERSION => return Err(RunFileError::NewerFormat { found }),
        Some(found) => return Err(RunFileError::OlderFormat { found }),
        None => return Err(damaged_text(1, "the header has no version")),
    }
    match probe.protocol {
        Some(PROTOCOL_VERSION) => {}
        Some(found) => return Err(RunFileError::OtherProtocol { found }),
        None => return Err(damaged_text(1, "the header has no protocol version")),
    }
    serde_json::from_str(text).map_err(|error| damaged(1, &error))
}

/// `bytes` as a person reads a file's size: `64 MiB`, `1.5 MiB`, `120 bytes`.
fn in_mib(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    match bytes {
        0..MIB => format!("{bytes} bytes"),
        _ if bytes.is_multiple_of(MIB) => format!("{} MiB", bytes / MIB),
        _ => format!("{:.1} MiB", bytes as f64 / MIB as f64),
    }
}

fn damaged(line: u64, error: &serde_json::Error) -> RunFileError {
    damaged_text(line, &error.to_string())
}

fn damaged_text(line: u64, reason: &str) -> RunFileError {
    RunFileError::Damaged {
        line,
        reason: reason.to_owned(),
    }
}

/// The file's lines, each within the limits.
struct Lines<R> {
    reader: BufReader<R>,
    limits: Limits,
    /// The number of the line last read.
    number: u64,
    unpacked: u64,
    buffer: Vec<u8>,
    /// Whether the line last read ended with its newline (the file's
    /// last line may not; a line cut short does not).
    ended: bool,
}

impl<R: Read> Lines<R> {
    /// The next line without its newline; `None` at the end.
    fn next(&mut self) -> Result<Option<&[u8]>, RunFileError> {
        self.buffer.clear();
        let line = self.number + 1;
        let cap = self.limits.max_line_bytes;
        let read = (&mut self.reader)
            .take(cap + 1)
            .read_until(b'\n', &mut self.buffer)
            .map_err(|error| unreadable(line, &error))?;
        if read == 0 {
            return Ok(None);
        }
        self.unpacked += read as u64;
        if self.unpacked > self.limits.max_unpacked_bytes {
            return Err(RunFileError::TooMuchData {
                limit: self.limits.max_unpacked_bytes,
            });
        }
        self.ended = self.buffer.last() == Some(&b'\n');
        if self.ended {
            self.buffer.pop();
        } else if self.buffer.len() as u64 > cap {
            return Err(RunFileError::LineTooLong { line, limit: cap });
        }
        self.number = line;
        Ok(Some(&self.buffer))
    }
}

fn unreadable(line: u64, error: &io::Error) -> RunFileError {
    match error.kind() {
        io::ErrorKind::UnexpectedEof => {
            RunFileError::Truncated(format!("the compressed data stops in line {line}"))
        }
        _ => RunFileError::Damaged {
            line,
            reason: format!("it does not unpack: {error}"),
        },
    }
}

mod gunzip;
#[cfg(test)]
mod tests;
