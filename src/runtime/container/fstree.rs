//! Reading a directory tree fd-relative, and writing its entries as tar.
//!
//! Shared by `commit` (the upper dir, on the host) and `export` (the merged
//! view, inside the container's mount namespace). Every name is opened from
//! its parent's fd with `O_NOFOLLOW`: a symlink the container planted is
//! archived as a symlink and never resolved, so nothing outside the tree is
//! ever read (CVE-2018-15664 class of bugs). Regular files are opened
//! `O_NONBLOCK` and checked after opening, so a fifo swapped in cannot block
//! and a swapped file is skipped rather than read.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};
use tar::{EntryType, Header};

const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";
/// Larger values are not worth carrying in a layer (and no capability is).
const MAX_XATTR_VALUE: usize = 64 * 1024;

/// What kind of file a stat describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

pub fn kind(st: &FileStat) -> Kind {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        libc::S_IFCHR => Kind::Char,
        libc::S_IFBLK => Kind::Block,
        libc::S_IFIFO => Kind::Fifo,
        libc::S_IFSOCK => Kind::Socket,
        _ => Kind::File,
    }
}

/// overlayfs's whiteout: a 0/0 character device.
pub fn is_whiteout(st: &FileStat) -> bool {
    kind(st) == Kind::Char && st.st_rdev == 0
}

/// Opens a directory below `dir` without following a symlink.
pub fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::empty())
}

pub fn lstat(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<FileStat> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// The names in a directory, byte-sorted (the order docker walks in).
pub fn names(dir: BorrowedFd<'_>) -> nix::Result<Vec<OsString>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut listing = nix::dir::Dir::openat(dir, ".", flags, Mode::empty())?;
    let mut out = Vec::new();
    for entry in listing.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            out.push(OsString::from(OsStr::from_bytes(&name)));
        }
    }
    out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(out)
}

/// An extended attribute of an open file; None when it is not set.
pub fn get_xattr(fd: BorrowedFd<'_>, key: &CStr) -> nix::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `key` is NUL-terminated and `buf` is valid for its length.
        let rc = unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                key.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        match Errno::result(rc) {
            Ok(n) => {
                buf.truncate(usize::try_from(n).unwrap_or(0));
                return Ok(Some(buf));
            }
            Err(Errno::ENODATA | Errno::EOPNOTSUPP) => return Ok(None),
            Err(Errno::ERANGE) if buf.len() < MAX_XATTR_VALUE => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(e),
        }
    }
}

/// Whether an upper directory hides everything below it in the lower layers.
pub fn is_opaque(dir: BorrowedFd<'_>) -> nix::Result<bool> {
    Ok(get_xattr(dir, OPAQUE_XATTR)?.is_some_and(|v| v == b"y"))
}

fn list_xattrs(fd: BorrowedFd<'_>) -> nix::Result<Vec<CString>> {
    // SAFETY: a null buffer of size 0 asks only for the size.
    let size = Errno::result(unsafe { libc::flistxattr(fd.as_raw_fd(), std::ptr::null_mut(), 0) })?;
    let mut buf = vec![0u8; usize::try_from(size).unwrap_or(0)];
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    // SAFETY: `buf` is valid for its length.
    let n = Errno::result(unsafe {
        libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
    })?;
    buf.truncate(usize::try_from(n).unwrap_or(0));
    Ok(buf
        .split(|b| *b == 0)
        .filter(|k| !k.is_empty())
        .filter_map(|k| CString::new(k).ok())
        .collect())
}

/// The attributes a layer carries, as docker does (file capabilities) plus
/// the user namespace. overlayfs's own (`trusted.overlay.*`, and
/// `user.overlay.*`, which an overlay mounted with `userxattr` would obey)
/// and host labels (`security.selinux`) describe this host, not the content.
fn portable_xattrs(fd: BorrowedFd<'_>) -> nix::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for key in list_xattrs(fd)? {
        let Ok(name) = key.to_str() else { continue };
        let portable = name == "security.capability"
            || (name.starts_with("user.") && !name.starts_with("user.overlay."));
        if !portable {
            continue;
        }
        if let Some(value) = get_xattr(fd, &key)? {
            out.push((name.to_string(), value));
        }
    }
    Ok(out)
}

/// One PAX record: `"<len> key=value\n"`, where len counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

/// A tar stream of tree entries. Hardlinks are detected by inode among the
/// entries written, so a file linked twice is stored once.
pub struct TarOut<W: Write> {
    builder: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Bytes of regular-file content written (the unpacked size).
    pub content_bytes: u64,
    /// Refuse files overlayfs copied up metadata-only: their data lives in a
    /// lower layer, and the layer would get an empty file.
    pub reject_metacopy: bool,
}

impl<W: Write> TarOut<W> {
    pub fn new(out: W) -> TarOut<W> {
        TarOut {
            builder: tar::Builder::new(out),
            links: HashMap::new(),
            content_bytes: 0,
            reject_metacopy: false,
        }
    }

    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }

    /// A directory, from its open fd; `path` is relative, without a slash.
    pub fn dir(&mut self, fd: BorrowedFd<'_>, path: &[u8]) -> io::Result<()> {
        let st = fstat(fd)?;
        self.pax_xattrs(fd)?;
        let mut header = header_for(&st, EntryType::Directory);
        let mut name = path.to_vec();
        name.push(b'/');
        self.builder
            .append_data(&mut header, OsStr::from_bytes(&name), io::empty())
    }

    /// Anything but a directory: `name` in `dir`, archived as `path`. An
    /// entry gone or replaced by another kind since it was listed (a live
    /// container) is left out.
    pub fn node(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &[u8],
        st: &FileStat,
    ) -> io::Result<()> {
        let path_os = OsStr::from_bytes(path);
        match kind(st) {
            Kind::File => self.file(dir, name, path),
            Kind::Symlink => {
                let target = match readlinkat(dir, name) {
                    Ok(t) => t,
                    Err(Errno::ENOENT | Errno::EINVAL) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let mut header = header_for(st, EntryType::Symlink);
                self.builder.append_link(&mut header, path_os, &target)?;
                Ok(())
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let entry_type = match kind(st) {
                    Kind::Char => EntryType::Char,
                    Kind::Block => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut header = header_for(st, entry_type);
                if entry_type != EntryType::Fifo {
                    header.set_device_major(libc::major(st.st_rdev))?;
                    header.set_device_minor(libc::minor(st.st_rdev))?;
                }
                self.builder
                    .append_data(&mut header, path_os, io::empty())?;
                Ok(())
            }
            // tar has no sockets; docker skips them too.
            Kind::Socket | Kind::Dir => Ok(()),
        }
    }

    fn file(&mut self, dir: BorrowedFd<'_>, name: &OsStr, path: &[u8]) -> io::Result<()> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ELOOP) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let st = fstat(&fd)?;
        if kind(&st) != Kind::File {
            return Ok(());
        }
        self.check_metacopy(fd.as_fd(), path)?;
        let path_os = OsStr::from_bytes(path);
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                let mut header = header_for(&st, EntryType::Link);
                let first = OsStr::from_bytes(first).to_os_string();
                self.builder.append_link(&mut header, path_os, first)?;
                return Ok(());
            }
            self.links.insert(key, path.to_vec());
        }
        self.pax_xattrs(fd.as_fd())?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut header = header_for(&st, EntryType::Regular);
        header.set_size(size);
        // A file that shrinks while it is read (a live container) is padded,
        // one that grows is cut: the header's size must hold.
        let data = File::from(fd).take(size).chain(io::repeat(0)).take(size);
        self.builder.append_data(&mut header, path_os, data)?;
        self.content_bytes += size;
        Ok(())
    }

    fn check_metacopy(&self, fd: BorrowedFd<'_>, path: &[u8]) -> io::Result<()> {
        if self.reject_metacopy && get_xattr(fd, c"trusted.overlay.metacopy")?.is_some() {
            return Err(io::Error::other(format!(
                "/{} was copied up metadata-only (overlay metacopy=on), which berth cannot archive; remount overlay with metacopy=off",
                String::from_utf8_lossy(path)
            )));
        }
        Ok(())
    }

    /// `DIR/.wh.NAME`: NAME was deleted (docker's encoding: an empty file).
    pub fn whiteout(&mut self, path: &[u8], st: &FileStat) -> io::Result<()> {
        let (parent, name) = split_parent(path);
        let mut wh = parent.to_vec();
        wh.extend_from_slice(WHITEOUT_PREFIX);
        wh.extend_from_slice(name);
        self.marker(&wh, st)
    }

    /// `DIR/.wh..wh..opq`: DIR hides what the layers below hold in it.
    pub fn opaque(&mut self, dir_path: &[u8], st: &FileStat) -> io::Result<()> {
        let mut marker = dir_path.to_vec();
        marker.push(b'/');
        marker.extend_from_slice(OPAQUE_MARKER);
        self.marker(&marker, st)
    }

    fn marker(&mut self, path: &[u8], st: &FileStat) -> io::Result<()> {
        let mut header = header_for(st, EntryType::Regular);
        header.set_mode(0o600);
        header.set_size(0);
        self.builder
            .append_data(&mut header, OsStr::from_bytes(path), io::empty())
    }

    /// A PAX header carrying the next entry's extended attributes.
    fn pax_xattrs(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let xattrs = match portable_xattrs(fd) {
            Ok(x) => x,
            Err(Errno::EOPNOTSUPP) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        if xattrs.is_empty() {
            return Ok(());
        }
        let mut data = Vec::new();
        for (key, value) in &xattrs {
            data.extend(pax_record(&format!("{PAX_XATTR_PREFIX}{key}"), value));
        }
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::XHeader);
        header.set_path("PaxHeaders/entry")?;
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.builder.append(&header, data.as_slice())
    }
}

fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Owner, mode and mtime (whole seconds, as docker stores them).
fn header_for(st: &FileStat, entry_type: EntryType) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_mode(st.st_mode & 0o7777);
    header.set_uid(u64::from(st.st_uid));
    header.set_gid(u64::from(st.st_gid));
    header.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    header.set_size(0);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        for value_len in [0usize, 1, 5, 6, 7, 90, 95, 96, 97, 990, 995, 1000] {
            let value = vec![b'v'; value_len];
            let record = pax_record("k", &value);
            let (len, _) = record
                .split(|b| *b == b' ')
                .next()
                .map(|l| (String::from_utf8_lossy(l).parse::<usize>().unwrap(), ()))
                .unwrap();
            assert_eq!(len, record.len(), "value of {value_len} bytes");
        }
    }

    #[test]
    fn split_parent_of_nested_and_top_level_paths() {
        assert_eq!(split_parent(b"a/b/c"), (&b"a/b/"[..], &b"c"[..]));
        assert_eq!(split_parent(b"top"), (&b""[..], &b"top"[..]));
    }
}
