//! Content digests (`sha256:<64 lowercase hex>`) and streaming hash adapters.
//!
//! berth only produces and accepts sha256, the algorithm every registry and
//! the OCI image spec require; other algorithms are rejected with a clear error
//! rather than being carried around unverifiable.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

const PREFIX: &str = "sha256:";
const HEX_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {value:?}: {reason}")]
pub struct DigestError {
    pub value: String,
    pub reason: &'static str,
}

/// A validated `sha256:<hex>` digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(value: &str) -> Result<Digest, DigestError> {
        let err = |reason| DigestError {
            value: value.to_string(),
            reason,
        };
        let Some((algo, hex)) = value.split_once(':') else {
            return Err(err("expected sha256:<64 hex digits>"));
        };
        if algo != "sha256" {
            return Err(err("only sha256 digests are supported"));
        }
        validate_hex(hex).map_err(err)?;
        Ok(Digest(value.to_string()))
    }

    /// Builds a digest from its 64 hex digits (e.g. a blob's file name).
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        validate_hex(hex).map_err(|reason| DigestError {
            value: hex.to_string(),
            reason,
        })?;
        Ok(Digest(format!("{PREFIX}{hex}")))
    }

    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        let mut hasher = Sha256::new();
        hasher.update(bytes);
        Digest::from_hasher(hasher)
    }

    pub(crate) fn from_hasher(hasher: Sha256) -> Digest {
        let out = hasher.finalize();
        let mut s = String::with_capacity(PREFIX.len() + HEX_LEN);
        s.push_str(PREFIX);
        for byte in out.iter() {
            s.push(hex_char(byte >> 4));
            s.push(hex_char(byte & 0xf));
        }
        Digest(s)
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    /// The 12-digit short form docker prints in tables.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    /// The same digest as oci-spec's type, for manifests and descriptors.
    pub fn to_oci(&self) -> Result<oci_spec::image::Digest, DigestError> {
        oci_spec::image::Digest::from_str(&self.0).map_err(|_| DigestError {
            value: self.0.clone(),
            reason: "rejected by oci-spec",
        })
    }
}

fn validate_hex(hex: &str) -> Result<(), &'static str> {
    if hex.len() != HEX_LEN {
        return Err("sha256 digests have exactly 64 hex digits");
    }
    if !is_lower_hex(hex) {
        return Err("digest must be lowercase hexadecimal");
    }
    Ok(())
}

/// True when `s` is non-empty lowercase hex (ids and id prefixes).
pub fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex_char(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0xf)])
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The digest and length of what was read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Hashes everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Bytes accepted by the inner writer so far.
    pub fn bytes_written(&self) -> u64 {
        self.len
    }

    /// The inner writer, and the digest and length of what was written.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Hash only what the inner writer accepted, so a short write is not
        // counted twice when the caller retries the rest.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_bytes() {
        assert_eq!(Digest::of_bytes(b"").as_str(), EMPTY);
    }

    #[test]
    fn parse_roundtrip_and_errors() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::from_hex(d.hex()).unwrap(), d);
        for bad in [
            "e3b0",
            "sha256:abc",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:z3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_as_string() {
        let d = Digest::parse(EMPTY).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        let back: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
        assert_eq!(d.to_oci().unwrap().to_string(), EMPTY);
    }

    #[test]
    fn adapters_hash_the_stream() {
        let data = vec![7u8; 100_000];
        let mut reader = HashingReader::new(&data[..]);
        let mut sink = Vec::new();
        io::copy(&mut reader, &mut sink).unwrap();
        let (digest, len) = reader.finish();
        assert_eq!(digest, Digest::of_bytes(&data));
        assert_eq!(len, 100_000);

        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(&data).unwrap();
        let (out, digest, len) = writer.finish();
        assert_eq!(out, data);
        assert_eq!(digest, Digest::of_bytes(&data));
        assert_eq!(len, 100_000);
    }
}
