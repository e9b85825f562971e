//! The run file round-trips, and every hostile file gets an error (never a
//! panic, never unbounded memory).

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use protocol::{ConnId, Event, EventKind, Hello, Limits as LabLimits, ServerModel};

use super::*;

fn event(at: u64, conn: u64) -> Event {
    Event {
        at,
        kind: EventKind::Accepted {
            conn: ConnId(conn),
            peer: format!("127.0.0.1:{}", 40_000 + conn),
        },
    }
}

fn hello() -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        lab: 3,
        echo_addr: "127.0.0.1:4100".to_owned(),
        model: ServerModel::AsyncTasks,
        limits: LabLimits::default(),
    }
}

fn sample_file(events: usize) -> (Vec<u8>, Vec<Event>) {
    let all: Vec<Event> = (0..events as u64).map(|i| event(i * 10, i)).collect();
    let mut writer = Writer::new(&Header::new(RunSource::Live, None, Some(hello())));
    let (before, after) = all.split_at(events / 2);
    writer.events(before);
    writer.fresh_run();
    writer.events(after);
    (writer.finish(), all)
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(text).unwrap();
    encoder.finish().unwrap()
}

fn header_line(version: u32, protocol: u32) -> String {
    let mut header = Header::new(RunSource::Simulation, Some("?model=selector".into()), None);
    header.version = version;
    header.protocol = protocol;
    serde_json::to_string(&header).unwrap()
}

#[test]
fn a_written_run_reads_back_entry_for_entry() {
    let (bytes, all) = sample_file(3000);
    let run = read(&bytes, &Limits::default()).unwrap();
    assert_eq!(run.header.hello, Some(hello()));
    assert_eq!(run.header.source, RunSource::Live);
    assert_eq!(run.events().cloned().collect::<Vec<_>>(), all);
    let fresh_at = run
        .entries
        .iter()
        .position(|entry| *entry == Entry::FreshRun)
        .unwrap();
    let events_before: usize = run.entries[..fresh_at]
        .iter()
        .map(|entry| match entry {
            Entry::Events(events) => events.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(
        events_before, 1500,
        "the fresh run sits where it was marked"
    );
    assert!(bytes.starts_with(&[0x1f, 0x8b]), "saved files are gzip");
}

#[test]
fn plain_json_lines_read_too() {
    let text = format!(
        "{}\n{{\"type\":\"events\",\"events\":[{{\"at\":5,\"type\":\"closed\",\"conn\":1}}]}}\n{{\"type\":\"end\",\"events\":1}}\n",
        header_line(VERSION, PROTOCOL_VERSION)
    );
    let run = read(text.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(run.events().count(), 1);
    assert_eq!(run.header.scenario.as_deref(), Some("?model=selector"));
}

#[test]
fn other_versions_are_named() {
    let file = |version, protocol| {
        gzip(
            format!(
                "{}\n{{\"type\":\"end\",\"events\":0}}\n",
                header_line(version, protocol)
            )
            .as_bytes(),
        )
    };
    assert_eq!(
        read(&file(VERSION + 1, PROTOCOL_VERSION), &Limits::default()),
        Err(RunFileError::NewerFormat { found: VERSION + 1 })
    );
    assert_eq!(
        read(&file(0, PROTOCOL_VERSION), &Limits::default()),
        Err(RunFileError::OlderFormat { found: 0 })
    );
    let other = read(&file(VERSION, PROTOCOL_VERSION + 1), &Limits::default()).unwrap_err();
    assert_eq!(
        other,
        RunFileError::OtherProtocol {
            found: PROTOCOL_VERSION + 1
        }
    );
    assert!(other.to_string().contains("protocol version 2"), "{other}");
    assert!(read(&file(VERSION, PROTOCOL_VERSION), &Limits::default()).is_ok());
}

#[test]
fn a_file_cut_at_any_point_is_called_truncated_or_damaged() {
    let (bytes, _) = sample_file(200);
    for cut in 0..bytes.len() {
        let error = read(&bytes[..cut], &Limits::default()).unwrap_err();
        assert!(
            matches!(
                error,
                RunFileError::Truncated(_)
                    | RunFileError::NotARun(_)
                    | RunFileError::Damaged { .. }
            ),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn a_plain_file_cut_at_a_line_end_misses_its_last_line() {
    let text = format!(
        "{}\n{{\"type\":\"events\",\"events\":[{{\"at\":5,\"type\":\"closed\",\"conn\":1}}]}}\n",
        header_line(VERSION, PROTOCOL_VERSION)
    );
    let error = read(text.as_bytes(), &Limits::default()).unwrap_err();
    assert!(matches!(error, RunFileError::Truncated(_)), "{error}");
}

#[test]
fn a_plain_file_cut_in_a_line_is_cut_short() {
    let text = format!(
        "{}\n{{\"type\":\"events\",\"events\":[{{\"at\":5,\"type\":\"clo",
        header_line(VERSION, PROTOCOL_VERSION)
    );
    let error = read(text.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(
        error,
        RunFileError::Truncated("it stops in the middle of line 2".to_owned())
    );
}

#[test]
fn a_last_line_that_miscounts_or_has_company_is_damaged() {
    let header = header_line(VERSION, PROTOCOL_VERSION);
    let miscounted = format!("{header}\n{{\"type\":\"end\",\"events\":7}}\n");
    assert!(matches!(
        read(miscounted.as_bytes(), &Limits::default()),
        Err(RunFileError::Damaged { line: 2, .. })
    ));
    let followed =
        format!("{header}\n{{\"type\":\"end\",\"events\":0}}\n{{\"type\":\"fresh_run\"}}\n");
    assert!(matches!(
        read(followed.as_bytes(), &Limits::default()),
        Err(RunFileError::Damaged { line: 3, .. })
    ));
}

#[test]
fn wrong_types_name_their_line() {
    let text = format!(
        "{}\n{{\"type\":\"events\",\"events\":[{{\"at\":\"soon\",\"type\":\"closed\",\"conn\":1}}]}}\n",
        header_line(VERSION, PROTOCOL_VERSION)
    );
    let error = read(text.as_bytes(), &Limits::default()).unwrap_err();
    let RunFileError::Damaged { line, reason } = &error else {
        panic!("{error}");
    };
    assert_eq!(*line, 2);
    assert!(reason.contains("invalid type"), "{reason}");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep = format!(
        "{}\n{{\"type\":\"events\",\"events\":[{{\"at\":1,\"type\":\"closed\",\"conn\":1,\"extra\":{}{}}}]}}\n",
        header_line(VERSION, PROTOCOL_VERSION),
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let error = read(deep.as_bytes(), &Limits::default()).unwrap_err();
    assert!(error.to_string().contains("recursion limit"), "{error}");
    let deep_header = format!("{}\n", "[".repeat(100_000));
    assert!(matches!(
        read(deep_header.as_bytes(), &Limits::default()),
        Err(RunFileError::NotARun(_))
    ));
}

#[test]
fn a_file_beyond_the_size_cap_is_refused_before_reading() {
    let limits = Limits::default();
    let error = check_size(1 << 30, &limits).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the file is 1024 MiB; a saved run is at most 64 MiB"
    );
    assert_eq!(
        error,
        RunFileError::FileTooLarge {
            size: 1 << 30,
            limit: limits.max_file_bytes
        }
    );
    let small = Limits {
        max_file_bytes: 100,
        ..limits
    };
    let (bytes, _) = sample_file(100);
    assert!(matches!(
        read(&bytes, &small),
        Err(RunFileError::FileTooLarge { .. })
    ));
}

/// A compression bomb: a few KB that unpack to gigabytes stop at the
/// line cap, having held no more than one line.
#[test]
fn a_compression_bomb_stops_at_the_line_cap() {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(header_line(VERSION, PROTOCOL_VERSION).as_bytes())
        .unwrap();
    encoder.write_all(b"\n").unwrap();
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    let limits = Limits {
        max_line_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(
        read(&bomb, &limits),
        Err(RunFileError::LineTooLong {
            line: 2,
            limit: 1 << 20
        })
    );
}

#[test]
fn short_lines_stop_at_the_unpacked_cap() {
    let mut text = header_line(VERSION, PROTOCOL_VERSION);
    text.push('\n');
    for _ in 0..10_000 {
        text.push_str("{\"type\":\"fresh_run\"}\n");
    }
    let limits = Limits {
        max_unpacked_bytes: 50_000,
        ..Limits::default()
    };
    assert_eq!(
        read(&gzip(text.as_bytes()), &limits),
        Err(RunFileError::TooMuchData { limit: 50_000 })
    );
}

#[test]
fn too_many_events_are_refused() {
    let (bytes, _) = sample_file(3000);
    let limits = Limits {
        max_events: 2000,
        ..Limits::default()
    };
    assert_eq!(
        read(&bytes, &limits),
        Err(RunFileError::TooManyEvents { limit: 2000 })
    );
}

#[test]
fn other_files_are_not_runs() {
    for bytes in [
        &b""[..],
        b"hello world\n",
        b"{\"format\":\"perfetto\"}\n",
        b"\x89PNG\r\n\x1a\n",
    ] {
        let error = read(bytes, &Limits::default()).unwrap_err();
        assert!(matches!(error, RunFileError::NotARun(_)), "{error}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any bytes at all: an error or a run, never a panic.
    #[test]
    fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read(&bytes, &Limits::default());
        let mut gzipped = vec![0x1f, 0x8b];
        gzipped.extend_from_slice(&bytes);
        let _ = read(&gzipped, &Limits::default());
    }

    /// A saved file with bytes changed anywhere: read (if the change was
    /// harmless) or refused, never a panic; what is read is within limits.
    #[test]
    fn a_damaged_file_is_read_or_refused(
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        plain in any::<bool>(),
    ) {
        let (gzipped, _) = sample_file(50);
        let mut bytes = if plain {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&gzipped[..]).read_to_end(&mut text).unwrap();
            text
        } else {
            gzipped
        };
        for (index, byte) in changes {
            let at = index.index(bytes.len());
            bytes[at] = byte;
        }
        let limits = Limits { max_events: 60, ..Limits::default() };
        if let Ok(run) = read(&bytes, &limits) {
            prop_assert!(run.events().count() <= 60);
        }
    }

    /// Lines of any JSON shape after a good header: refused with the
    /// line's number, or read.
    #[test]
    fn odd_lines_are_named(line in "[\\[\\]{}\",:a-z0-9 ]{0,64}") {
        let text = format!("{}\n{line}\n", header_line(VERSION, PROTOCOL_VERSION));
        match read(text.as_bytes(), &Limits::default()) {
            Err(RunFileError::Damaged { line, .. }) => prop_assert!(line == 2 || line == 3),
            Err(RunFileError::Truncated(_)) | Err(RunFileError::LineTooLong { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {other}"),
            Ok(_) => {}
        }
    }
}
