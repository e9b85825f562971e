//! Reading a gzip file (RFC 1952): its header, its deflate data, and its
//! trailer's CRC-32 and size, checked at the end. One member, as the page's
//! `CompressionStream` and [`crate::Writer`] write them.
//!
//! `flate2`'s own gzip reader does the same with `crc32fast`, whose 16 KiB
//! table would be in the app every visitor downloads; this one inflates
//! with `flate2` and checks with `crc`'s 1 KiB table.

use std::io::{self, Read};

use crc::{CRC_32_ISO_HDLC, Crc, Digest};
use flate2::bufread::DeflateDecoder;

static CRC_32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;

/// The unpacked bytes of a gzip file.
pub struct Gunzip<'a> {
    inflate: DeflateDecoder<&'a [u8]>,
    crc: Digest<'static, u32>,
    size: u32,
    checked: bool,
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn cut(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_owned())
}

/// Where the deflate data of the gzip file `bytes` begins.
fn data_start(bytes: &[u8]) -> io::Result<usize> {
    let header = bytes
        .get(..10)
        .ok_or_else(|| cut("its gzip header is cut"))?;
    if header[..2] != [0x1f, 0x8b] || header[2] != 8 {
        return Err(damaged("it is not gzip with deflate"));
    }
    let flags = header[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let length = bytes
            .get(at..at + 2)
            .ok_or_else(|| cut("its gzip header is cut"))?;
        at += 2 + usize::from(u16::from_le_bytes([length[0], length[1]]));
    }
    for field in [FNAME, FCOMMENT] {
        if flags & field != 0 {
            let end = bytes
                .get(at..)
                .and_then(|rest| rest.iter().position(|byte| *byte == 0))
                .ok_or_else(|| cut("its gzip header is cut"))?;
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > bytes.len() {
        return Err(cut("its gzip header is cut"));
    }
    Ok(at)
}

impl<'a> Gunzip<'a> {
    /// Reads the header of the gzip file `bytes`.
    pub fn new(bytes: &'a [u8]) -> io::Result<Self> {
        let start = data_start(bytes)?;
        Ok(Gunzip {
            inflate: DeflateDecoder::new(&bytes[start..]),
            crc: CRC_32.digest(),
            size: 0,
            checked: false,
        })
    }

    /// At the end of the data: the trailer must hold the CRC-32 and the
    /// size (modulo 2³²) of what was unpacked.
    fn check_trailer(&self) -> io::Result<()> {
        let rest = self.inflate.get_ref();
        let trailer = rest
            .get(..8)
            .ok_or_else(|| cut("its gzip trailer is cut"))?;
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc != self.crc.clone().finalize() || size != self.size {
            return Err(damaged("its gzip checksum does not match its data"));
        }
        Ok(())
    }
}

impl Read for Gunzip<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let read = self.inflate.read(out)?;
        if read == 0 && !out.is_empty() && !self.checked {
            self.checked = true;
            self.check_trailer()?;
        }
        self.crc.update(&out[..read]);
        self.size = self.size.wrapping_add(read as u32);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::{Compression, GzBuilder};

    use super::*;

    fn unpack(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Gunzip::new(bytes)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn it_unpacks_what_gzip_packs_with_every_optional_header_field() {
        let text = b"one line\nand another\n".repeat(1000);
        let mut plain = GzEncoder::new(Vec::new(), Compression::default());
        plain.write_all(&text).unwrap();
        assert_eq!(unpack(&plain.finish().unwrap()).unwrap(), text);
        let mut dressed = GzBuilder::new()
            .filename("run.loopscope")
            .comment("a comment")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::best());
        dressed.write_all(&text).unwrap();
        assert_eq!(unpack(&dressed.finish().unwrap()).unwrap(), text);
    }

    #[test]
    fn a_changed_byte_or_a_cut_trailer_is_found_out() {
        let mut packed = GzEncoder::new(Vec::new(), Compression::none());
        packed
            .write_all(b"stored as it is, so a byte can change")
            .unwrap();
        let packed = packed.finish().unwrap();
        // A stored block: the data is there as it is; change one letter.
        let mut changed = packed.clone();
        let at = changed.windows(5).position(|w| w == b"store").unwrap();
        changed[at] = b'S';
        let error = unpack(&changed).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        assert!(error.to_string().contains("checksum"), "{error}");
        let error = unpack(&packed[..packed.len() - 3]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{error}");
        let error = unpack(&packed[..6]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{error}");
    }
}
