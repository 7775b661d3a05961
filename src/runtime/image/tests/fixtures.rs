//! Layer tarballs built in the test itself, including entries the `tar`
//! crate's safe setters would refuse (`..`, absolute paths): those are
//! written into the raw header fields.

use std::ffi::CString;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};

use crate::runtime::image::ImportOptions;
use crate::runtime::store::Store;

pub const MTIME: u64 = 1_600_000_000;

/// A fixed creation time, so image IDs depend on content and changes only.
pub fn created() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub fn options<'a>(reference: Option<&'a str>, changes: &'a [String]) -> ImportOptions<'a> {
    ImportOptions {
        reference,
        changes,
        created: Some(created()),
        ..ImportOptions::default()
    }
}

pub fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    (dir, store)
}

pub struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Layer {
        self.raw(EntryType::Directory, name, "", mode, (0, 0), b"", (0, 0))
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Layer {
        self.raw(EntryType::Regular, name, "", mode, (0, 0), data, (0, 0))
    }

    pub fn owned_file(&mut self, name: &str, owner: (u64, u64), data: &[u8]) -> &mut Layer {
        self.raw(EntryType::Regular, name, "", 0o640, owner, data, (0, 0))
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Layer {
        self.raw(EntryType::Symlink, name, target, 0o777, (0, 0), b"", (0, 0))
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Layer {
        self.raw(EntryType::Link, name, target, 0o644, (0, 0), b"", (0, 0))
    }

    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) -> &mut Layer {
        self.raw(
            EntryType::Char,
            name,
            "",
            0o666,
            (0, 0),
            b"",
            (major, minor),
        )
    }

    pub fn block_dev(&mut self, name: &str, major: u32, minor: u32) -> &mut Layer {
        self.raw(
            EntryType::Block,
            name,
            "",
            0o660,
            (0, 0),
            b"",
            (major, minor),
        )
    }

    /// An entry whose path (and link target) come from a PAX header, the
    /// ustar fields holding harmless placeholders.
    pub fn pax_entry(
        &mut self,
        kind: EntryType,
        path: &str,
        link: Option<&str>,
        data: &[u8],
    ) -> &mut Layer {
        let mut records = vec![("path", path.as_bytes())];
        if let Some(l) = link {
            records.push(("linkpath", l.as_bytes()));
        }
        self.builder.append_pax_extensions(records).unwrap();
        let placeholder_link = if link.is_some() { "placeholder" } else { "" };
        self.raw(
            kind,
            "placeholder",
            placeholder_link,
            0o644,
            (0, 0),
            data,
            (0, 0),
        )
    }

    /// An entry whose path (and link target) are GNU long-name records.
    pub fn gnu_long_entry(
        &mut self,
        kind: EntryType,
        path: &str,
        link: Option<&str>,
        data: &[u8],
    ) -> &mut Layer {
        self.gnu_long_record(EntryType::GNULongName, path);
        if let Some(l) = link {
            self.gnu_long_record(EntryType::GNULongLink, l);
        }
        let link = if link.is_some() { "placeholder" } else { "" };
        self.raw(kind, "placeholder", link, 0o644, (0, 0), data, (0, 0))
    }

    fn gnu_long_record(&mut self, kind: EntryType, value: &str) {
        let mut data = value.as_bytes().to_vec();
        data.push(0);
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.builder.append(&h, &data[..]).unwrap();
    }

    pub fn fifo(&mut self, name: &str) -> &mut Layer {
        self.raw(EntryType::Fifo, name, "", 0o600, (0, 0), b"", (0, 0))
    }

    /// A regular file preceded by a PAX header carrying `SCHILY.xattr.*`.
    pub fn file_with_xattrs(
        &mut self,
        name: &str,
        xattrs: &[(&str, &[u8])],
        data: &[u8],
    ) -> &mut Layer {
        let records: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap();
        self.file(name, 0o644, data)
    }

    #[allow(clippy::too_many_arguments)]
    fn raw(
        &mut self,
        kind: EntryType,
        name: &str,
        link: &str,
        mode: u32,
        owner: (u64, u64),
        data: &[u8],
        device: (u32, u32),
    ) -> &mut Layer {
        let mut h = Header::new_ustar();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(MTIME);
        h.set_size(data.len() as u64);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(device.0).unwrap();
            h.set_device_minor(device.1).unwrap();
        }
        h.set_cksum();
        self.builder.append(&h, data).unwrap();
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()));
        builder.into_inner().unwrap()
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A small rootfs with one entry of every kind.
pub fn sample_rootfs() -> Vec<u8> {
    Layer::new()
        .dir("./", 0o755)
        .dir("bin/", 0o755)
        .file("bin/su", 0o4755, b"#!/bin/sh\necho su\n")
        .file("bin/sgid", 0o2711, b"sgid")
        .owned_file("home/user/notes", (1000, 1001), b"private notes")
        .symlink("bin/sh", "/bin/su")
        .hardlink("bin/su-link", "bin/su")
        .dir("dev/", 0o755)
        .char_dev("dev/null", 1, 3)
        .fifo("run/fifo")
        .dir("tmp/", 0o1777)
        .finish()
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the stated length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}

/// Names in `snapshots/` that are unfinished temp dirs, and files in `tmp/`.
pub fn leftovers(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(store.snapshots_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("tmp-") {
            out.push(format!("snapshots/{name}"));
        }
    }
    for e in std::fs::read_dir(store.tmp_dir()).unwrap() {
        out.push(format!("tmp/{}", e.unwrap().file_name().to_string_lossy()));
    }
    out
}
