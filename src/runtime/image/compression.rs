//! Undoing a layer's compression, decided by its first bytes (media types
//! lie often enough that docker sniffs too).

use std::io::{self, BufReader, Read};

use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";
const SNIFF_LEN: usize = 6;
const READ_BUFFER: usize = 1 << 17;

#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    #[error("{0}-compressed layers are not supported (plain, gzip and zstd tar are)")]
    Unsupported(&'static str),
    #[error("cannot read the layer: {0}")]
    Read(#[source] io::Error),
}

/// A reader of the uncompressed stream: gzip and zstd are undone, plain tar
/// passes through.
pub fn decompressing<'r>(reader: impl Read + 'r) -> Result<Box<dyn Read + 'r>, CompressionError> {
    let mut reader = reader;
    let mut head = [0u8; SNIFF_LEN];
    let n = read_up_to(&mut reader, &mut head).map_err(CompressionError::Read)?;
    let head = &head[..n];
    let stream = io::Cursor::new(head.to_vec()).chain(reader);
    if head.starts_with(GZIP_MAGIC) {
        let buffered = BufReader::with_capacity(READ_BUFFER, stream);
        return Ok(Box::new(MultiGzDecoder::new(buffered)));
    }
    if head.starts_with(ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::new(stream).map_err(CompressionError::Read)?;
        return Ok(Box::new(decoder));
    }
    if head.starts_with(XZ_MAGIC) {
        return Err(CompressionError::Unsupported("xz"));
    }
    if head.starts_with(BZIP2_MAGIC) && head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return Err(CompressionError::Unsupported("bzip2"));
    }
    Ok(Box::new(stream))
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl From<CompressionError> for super::ImageError {
    fn from(e: CompressionError) -> Self {
        match e {
            CompressionError::Unsupported(format) => {
                super::ImageError::UnsupportedCompression { format }
            }
            CompressionError::Read(source) => super::ImageError::Input { source },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn roundtrip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decompressing(bytes).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn gzip_zstd_and_plain() {
        let data = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        assert_eq!(roundtrip(&gz.finish().unwrap()), data);
        let zst = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert_eq!(roundtrip(&zst), data);
        assert_eq!(roundtrip(&data), data);
        assert_eq!(roundtrip(b"ab"), b"ab");
    }

    #[test]
    fn xz_is_named() {
        let err = decompressing(&[0xfd, b'7', b'z', b'X', b'Z', 0, 1][..])
            .err()
            .unwrap();
        assert!(err.to_string().contains("xz"));
    }
}
