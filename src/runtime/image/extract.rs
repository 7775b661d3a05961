//! Safe extraction of one layer tar into a snapshot directory.
//!
//! Layers are untrusted input. Every path is resolved component by component
//! from an fd of the snapshot root, opening each directory with
//! `O_NOFOLLOW|O_DIRECTORY`: a symlink that is part of the layer is never
//! followed, whether it sits in the middle of an entry's path or at its end
//! (an existing name is unlinked and recreated, never written through). `..`
//! components are refused, absolute paths are taken relative to the root, and
//! hardlink targets are resolved the same way, so nothing can be created or
//! linked outside the snapshot (CVE-2018-15664 class of bugs).
//!
//! AUFS-style whiteouts are converted to overlayfs's format on the way in.
//!
//! Policy for what a layer may carry, as docker does: setuid/setgid/sticky
//! bits are kept; device nodes (char, block) and fifos are kept, created by
//! `mknodat` in a directory reached as above, so only inside the snapshot,
//! where only a container sees them (and the container's device cgroup
//! decides whether it may open them). The snapshot root's own metadata may
//! change, but nothing can replace it. Paths longer than PATH_MAX are
//! refused, which bounds nesting depth; removing a replaced directory is
//! iterative with one fd open at a time, whatever the depth
//! (tests/malicious.rs holds the attack corpus).

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::{self, DirBuilder, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use tar::EntryType;

use super::snapshot::SnapshotError;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// AUFS bookkeeping names (`.wh..wh.plnk`, ...); only `.opq` means anything.
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";
/// overlayfs's own metadata; a layer must not smuggle it in (a forged
/// redirect or metacopy xattr would change what the merged view shows).
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";
const ROOT_MODE: u32 = 0o755;
/// Mode of parent directories a layer uses without listing them.
const IMPLICIT_DIR_MODE: u32 = 0o755;
const COPY_BUFFER: usize = 1 << 16;
/// Linux's PATH_MAX: the longest path a process in the container can use.
const PATH_MAX: usize = 4096;

type Result<T> = std::result::Result<T, SnapshotError>;

/// Creates an empty snapshot root (mode 0755 whatever the umask).
pub(crate) fn create_root(path: &Path) -> Result<()> {
    DirBuilder::new()
        .mode(ROOT_MODE)
        .create(path)
        .map_err(|e| SnapshotError::io("create snapshot directory", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(ROOT_MODE))
        .map_err(|e| SnapshotError::io("chmod", path, e))
}

/// Extracts every entry of the tar stream under `root`, then reads the stream
/// to its end. Returns the number of bytes of regular-file content.
pub(crate) fn extract(root: &Path, reader: impl Read) -> Result<u64> {
    let root_fd = File::open(root)
        .map(OwnedFd::from)
        .map_err(|e| SnapshotError::io("open", root, e))?;
    let mut x = Extractor {
        root: root_fd,
        dir_times: Vec::new(),
        size: 0,
        buf: vec![0; COPY_BUFFER],
    };
    let mut archive = tar::Archive::new(reader);
    x.apply_all(&mut archive)?;
    // tar stops at the end-of-archive blocks; the padding after them is part
    // of the layer's bytes (and digest) too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(tar_error)?;
    x.apply_dir_times()?;
    Ok(x.size)
}

/// What one tar entry asks for, decoded from its header and PAX records.
struct Meta {
    /// The path as written in the archive, for error messages.
    name: String,
    parts: Vec<OsString>,
    kind: EntryType,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    link: Option<Vec<u8>>,
    device: (u32, u32),
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl Meta {
    fn unsafe_entry(&self, reason: impl Into<String>) -> SnapshotError {
        SnapshotError::Unsafe {
            entry: self.name.clone(),
            reason: reason.into(),
        }
    }

    fn err(&self, op: &'static str) -> impl FnOnce(Errno) -> SnapshotError + '_ {
        move |errno| SnapshotError::Entry {
            entry: self.name.clone(),
            op,
            source: io::Error::from(errno),
        }
    }

    fn owner(&self) -> (Option<Uid>, Option<Gid>) {
        (Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid)))
    }

    fn mode(&self) -> Mode {
        Mode::from_bits_truncate(self.mode)
    }
}

struct Extractor {
    root: OwnedFd,
    /// Directory mtimes are set last: creating children would bump them.
    dir_times: Vec<(Vec<OsString>, TimeSpec)>,
    size: u64,
    buf: Vec<u8>,
}

impl Extractor {
    fn apply_all<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<()> {
        for entry in archive.entries().map_err(tar_error)? {
            let mut entry = entry.map_err(tar_error)?;
            self.apply(&mut entry)?;
        }
        Ok(())
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let meta = read_meta(entry)?;
        if is_header_only(meta.kind) {
            return Ok(());
        }
        let Some((last, dirs)) = meta.parts.split_last() else {
            return self.root_entry(&meta);
        };
        let parent = self.walk(dirs, true, &meta)?;
        let name = last.as_os_str();
        if name.as_bytes().starts_with(WHITEOUT_PREFIX) {
            return whiteout(parent.as_fd(), name, &meta);
        }
        match meta.kind {
            EntryType::Directory => self.make_dir(parent.as_fd(), name, &meta),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.make_file(parent.as_fd(), name, &meta, entry)
            }
            EntryType::Symlink => make_symlink(parent.as_fd(), name, &meta),
            EntryType::Link => self.make_hardlink(parent.as_fd(), name, &meta),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                make_node(parent.as_fd(), name, &meta)
            }
            other => Err(SnapshotError::UnsupportedEntry {
                entry: meta.name.clone(),
                kind: format!("{other:?}"),
            }),
        }
    }

    /// `./` itself: only its metadata can change.
    fn root_entry(&mut self, meta: &Meta) -> Result<()> {
        if meta.kind != EntryType::Directory {
            return Err(meta.unsafe_entry("only a directory can stand for the layer root"));
        }
        set_owner_mode_fd(self.root.as_fd(), meta)?;
        set_xattrs(XattrTarget::Fd(self.root.as_fd()), meta)?;
        self.dir_times.push((Vec::new(), meta.mtime));
        Ok(())
    }

    /// Opens the directory `dirs` below the root without following symlinks,
    /// creating missing components when `create` is set.
    fn walk(&self, dirs: &[OsString], create: bool, meta: &Meta) -> Result<OwnedFd> {
        let mut cur = self.root.try_clone().map_err(|e| SnapshotError::Entry {
            entry: meta.name.clone(),
            op: "dup root fd",
            source: e,
        })?;
        for part in dirs {
            cur = step(cur.as_fd(), part, create, meta)?;
        }
        Ok(cur)
    }

    fn make_dir(&mut self, parent: BorrowedFd<'_>, name: &OsStr, meta: &Meta) -> Result<()> {
        if !replace_existing(parent, name, true, meta)? {
            mkdirat(parent, name, Mode::S_IRWXU).map_err(meta.err("create directory"))?;
        }
        let fd = open_dir_nofollow(parent, name).map_err(meta.err("open directory"))?;
        set_owner_mode_fd(fd.as_fd(), meta)?;
        set_xattrs(XattrTarget::Fd(fd.as_fd()), meta)?;
        self.dir_times.push((meta.parts.clone(), meta.mtime));
        Ok(())
    }

    fn make_file<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        data: &mut R,
    ) -> Result<()> {
        replace_existing(parent, name, false, meta)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(parent, name, flags, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(meta.err("create file"))?;
        let mut file = File::from(fd);
        self.size += self.copy_data(data, &mut file, meta)?;
        set_owner_mode_fd(file.as_fd(), meta)?;
        set_xattrs(XattrTarget::Fd(file.as_fd()), meta)?;
        futimens(&file, &meta.mtime, &meta.mtime).map_err(meta.err("set mtime"))
    }

    fn copy_data<R: Read>(&mut self, data: &mut R, file: &mut File, meta: &Meta) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(tar_error(e)),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| SnapshotError::Entry {
                    entry: meta.name.clone(),
                    op: "write file",
                    source: e,
                })?;
            total += n as u64;
        }
    }

    fn make_hardlink(&mut self, parent: BorrowedFd<'_>, name: &OsStr, meta: &Meta) -> Result<()> {
        let raw = meta
            .link
            .as_deref()
            .ok_or_else(|| meta.unsafe_entry("hardlink without a target"))?;
        let target = clean_path(raw)
            .map_err(|reason| meta.unsafe_entry(format!("hardlink target: {reason}")))?;
        if target == meta.parts {
            return Ok(());
        }
        let Some((target_name, target_dirs)) = target.split_last() else {
            return Err(meta.unsafe_entry("hardlink to the layer root"));
        };
        let shown = String::from_utf8_lossy(raw);
        let target_parent = self.walk(target_dirs, false, meta).map_err(|_| {
            meta.unsafe_entry(format!("hardlink target {shown:?} is not in this layer"))
        })?;
        replace_existing(parent, name, false, meta)?;
        // No AT_SYMLINK_FOLLOW: a target that is a symlink is linked as the
        // symlink itself, never resolved.
        match linkat(
            &target_parent,
            target_name.as_os_str(),
            parent,
            name,
            AtFlags::empty(),
        ) {
            Ok(()) => Ok(()),
            Err(Errno::ENOENT) => {
                Err(meta.unsafe_entry(format!("hardlink target {shown:?} is not in this layer")))
            }
            Err(Errno::EPERM) => {
                Err(meta.unsafe_entry(format!("hardlink target {shown:?} is a directory")))
            }
            Err(e) => Err(meta.err("create hardlink")(e)),
        }
    }

    fn apply_dir_times(&self) -> Result<()> {
        for (parts, mtime) in &self.dir_times {
            let meta = placeholder_meta(parts);
            // A later entry may have replaced the directory; its own
            // metadata was applied then.
            let Ok(fd) = self.walk(parts, false, &meta) else {
                continue;
            };
            futimens(&fd, mtime, mtime).map_err(meta.err("set directory mtime"))?;
        }
        Ok(())
    }
}

fn placeholder_meta(parts: &[OsString]) -> Meta {
    let name = parts
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    Meta {
        name,
        parts: parts.to_vec(),
        kind: EntryType::Directory,
        mode: 0,
        uid: 0,
        gid: 0,
        mtime: TimeSpec::new(0, 0),
        link: None,
        device: (0, 0),
        xattrs: Vec::new(),
    }
}

fn step(dir: BorrowedFd<'_>, part: &OsStr, create: bool, meta: &Meta) -> Result<OwnedFd> {
    match open_dir_nofollow(dir, part) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) if create => make_implicit_dir(dir, part, meta),
        Err(Errno::ENOENT) => Err(meta.unsafe_entry(format!(
            "{:?} does not exist in this layer",
            part.to_string_lossy()
        ))),
        Err(Errno::ELOOP | Errno::ENOTDIR) => Err(meta.unsafe_entry(format!(
            "path component {:?} is a symlink or not a directory (symlinks inside a layer are never followed)",
            part.to_string_lossy()
        ))),
        Err(e) => Err(meta.err("open directory")(e)),
    }
}

fn make_implicit_dir(dir: BorrowedFd<'_>, part: &OsStr, meta: &Meta) -> Result<OwnedFd> {
    match mkdirat(dir, part, Mode::S_IRWXU) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(meta.err("create parent directory")(e)),
    }
    let fd = open_dir_nofollow(dir, part).map_err(meta.err("open parent directory"))?;
    fchmod(&fd, Mode::from_bits_truncate(IMPLICIT_DIR_MODE)).map_err(meta.err("chmod"))?;
    Ok(fd)
}

fn open_dir_nofollow(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::empty())
}

/// Clears `name` for a new entry. An existing directory is kept when the new
/// entry is a directory too (returns true); anything else is removed, so the
/// new entry is created fresh and never written through a symlink.
fn replace_existing(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    new_is_dir: bool,
    meta: &Meta,
) -> Result<bool> {
    let st = match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(meta.err("stat")(e)),
    };
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir && new_is_dir {
        return Ok(true);
    }
    if is_dir {
        remove_tree(parent, name).map_err(meta.err("remove existing directory"))?;
    } else {
        unlinkat(parent, name, UnlinkatFlags::NoRemoveDir).map_err(meta.err("remove existing"))?;
    }
    Ok(false)
}

/// Removes the directory `name` in `parent` and everything below it, without
/// following symlinks. Iterative, with one directory of the tree open at a
/// time (the way back up is `..` of a directory only berth writes to), so no
/// nesting depth a layer can build exhausts the stack or the fd table.
pub(crate) fn remove_tree(parent: BorrowedFd<'_>, name: &OsStr) -> nix::Result<()> {
    let mut path = vec![name.to_os_string()];
    let mut cur = open_dir_nofollow(parent, name)?;
    loop {
        if let Some(sub) = clear_files(cur.as_fd())? {
            cur = open_dir_nofollow(cur.as_fd(), &sub)?;
            path.push(sub);
            continue;
        }
        // `cur` is empty: remove it from its parent and go up.
        let Some(done) = path.pop() else {
            return Err(Errno::EINVAL);
        };
        if path.is_empty() {
            return unlinkat(parent, done.as_os_str(), UnlinkatFlags::RemoveDir);
        }
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let up = openat(&cur, "..", flags, Mode::empty())?;
        unlinkat(&up, done.as_os_str(), UnlinkatFlags::RemoveDir)?;
        cur = up;
    }
}

/// Removes the directory tree at `path` (see [`remove_tree`]); std's
/// `remove_dir_all` holds an fd per level and fails on deep layers.
pub(crate) fn remove_dir_all(path: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let parent = File::open(parent)?;
    remove_tree(parent.as_fd(), name).map_err(io::Error::from)
}

/// Unlinks every entry of `dir` that is not a directory, stopping at the first
/// subdirectory, whose name it returns (None: `dir` is now empty).
fn clear_files(dir: BorrowedFd<'_>) -> nix::Result<Option<OsString>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut listing = nix::dir::Dir::from_fd(openat(dir, ".", flags, Mode::empty())?)?;
    for entry in listing.iter() {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Ok(Some(name.to_os_string()));
        }
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?;
    }
    Ok(None)
}

/// `.wh.NAME` becomes a 0/0 character device NAME; `.wh..wh..opq` marks its
/// directory opaque; other AUFS bookkeeping entries mean nothing to overlay.
fn whiteout(parent: BorrowedFd<'_>, name: &OsStr, meta: &Meta) -> Result<()> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE_MARKER {
        return fset_xattr(parent, OPAQUE_XATTR, b"y").map_err(meta.err("mark directory opaque"));
    }
    if bytes.starts_with(WHITEOUT_META_PREFIX) {
        return Ok(());
    }
    let hidden = OsStr::from_bytes(&bytes[WHITEOUT_PREFIX.len()..]);
    if hidden.is_empty() || hidden == "." || hidden == ".." {
        return Err(meta.unsafe_entry("whiteout of an invalid name"));
    }
    replace_existing(parent, hidden, false, meta)?;
    mknodat(parent, hidden, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
        .map_err(meta.err("create whiteout"))?;
    let (uid, gid) = meta.owner();
    fchownat(parent, hidden, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(meta.err("chown whiteout"))
}

fn make_symlink(parent: BorrowedFd<'_>, name: &OsStr, meta: &Meta) -> Result<()> {
    let target = meta
        .link
        .as_deref()
        .ok_or_else(|| meta.unsafe_entry("symlink without a target"))?;
    replace_existing(parent, name, false, meta)?;
    // The target is stored verbatim; it is only ever resolved inside the
    // container's root, never by berth.
    symlinkat(OsStr::from_bytes(target), parent, name).map_err(meta.err("create symlink"))?;
    let (uid, gid) = meta.owner();
    fchownat(parent, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(meta.err("lchown"))?;
    set_xattrs(XattrTarget::At(parent, name), meta)?;
    utimensat(
        parent,
        name,
        &meta.mtime,
        &meta.mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(meta.err("set mtime"))
}

fn make_node(parent: BorrowedFd<'_>, name: &OsStr, meta: &Meta) -> Result<()> {
    let kind = match meta.kind {
        EntryType::Char => SFlag::S_IFCHR,
        EntryType::Block => SFlag::S_IFBLK,
        _ => SFlag::S_IFIFO,
    };
    let (major, minor) = meta.device;
    replace_existing(parent, name, false, meta)?;
    mknodat(
        parent,
        name,
        kind,
        Mode::S_IRUSR | Mode::S_IWUSR,
        makedev(major.into(), minor.into()),
    )
    .map_err(meta.err("mknod"))?;
    let (uid, gid) = meta.owner();
    fchownat(parent, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(meta.err("chown"))?;
    // Just created by us in a directory only we write to: not a symlink.
    fchmodat(parent, name, meta.mode(), FchmodatFlags::FollowSymlink).map_err(meta.err("chmod"))?;
    set_xattrs(XattrTarget::At(parent, name), meta)?;
    utimensat(
        parent,
        name,
        &meta.mtime,
        &meta.mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(meta.err("set mtime"))
}

fn set_owner_mode_fd(fd: BorrowedFd<'_>, meta: &Meta) -> Result<()> {
    let (uid, gid) = meta.owner();
    fchown(fd, uid, gid).map_err(meta.err("chown"))?;
    // chown(2) clears setuid/setgid, so the mode goes second.
    fchmod(fd, meta.mode()).map_err(meta.err("chmod"))
}

enum XattrTarget<'a> {
    Fd(BorrowedFd<'a>),
    /// A name in a directory, for kinds that cannot be opened safely
    /// (symlinks, devices, fifos).
    At(BorrowedFd<'a>, &'a OsStr),
}

fn set_xattrs(target: XattrTarget<'_>, meta: &Meta) -> Result<()> {
    for (key, value) in &meta.xattrs {
        let result = match &target {
            XattrTarget::Fd(fd) => fset_xattr(*fd, key, value),
            XattrTarget::At(dir, name) => lset_xattr_at(*dir, name, key, value),
        };
        match result {
            // Like docker: a filesystem without that namespace, or a kind of
            // file that cannot carry it (user.* on a symlink), is not fatal.
            Ok(()) | Err(Errno::EOPNOTSUPP | Errno::EPERM) => {}
            Err(e) => return Err(meta.err("set xattr")(e)),
        }
    }
    Ok(())
}

fn fset_xattr(fd: BorrowedFd<'_>, key: &CStr, value: &[u8]) -> nix::Result<()> {
    // SAFETY: `key` is NUL-terminated, `value` is valid for `value.len()`
    // bytes, and `fd` is an open descriptor borrowed for the call.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// lsetxattr on `name` inside `dir`, addressed through `/proc/self/fd` so the
/// directory is the one we hold open, and the last component is not followed.
fn lset_xattr_at(dir: BorrowedFd<'_>, name: &OsStr, key: &CStr, value: &[u8]) -> nix::Result<()> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.as_bytes());
    let path = CString::new(path).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `path` and `key` are NUL-terminated, `value` is valid for
    // `value.len()` bytes.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// Normal components of an archive path: `/` and `.` are dropped (absolute
/// paths land inside the root), `..` is refused. Paths longer than PATH_MAX
/// are refused too: nothing in a container could open them, and the bound
/// caps how deep a layer can nest directories.
fn clean_path(raw: &[u8]) -> std::result::Result<Vec<OsString>, String> {
    let mut parts = Vec::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => parts.push(n.to_os_string()),
            Component::ParentDir => return Err("'..' path components are not allowed".into()),
            Component::Prefix(_) => return Err("path prefixes are not allowed".into()),
        }
    }
    let len: usize = parts.iter().map(|p| p.len() + 1).sum();
    if len > PATH_MAX {
        return Err(format!(
            "the path is {len} bytes long; paths inside a layer are limited to {PATH_MAX} (PATH_MAX)"
        ));
    }
    Ok(parts)
}

fn is_header_only(kind: EntryType) -> bool {
    matches!(
        kind,
        EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink
    )
}

fn tar_error(source: io::Error) -> SnapshotError {
    SnapshotError::Tar { source }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
    let pax = PaxOverrides::from_records(&pax_records(entry).map_err(tar_error)?);
    let raw_path = entry.path_bytes().into_owned();
    let name = String::from_utf8_lossy(&raw_path).into_owned();
    let unsafe_entry = |reason: String| SnapshotError::Unsafe {
        entry: name.clone(),
        reason,
    };
    let parts = clean_path(&raw_path).map_err(unsafe_entry)?;
    let header = entry.header();
    let kind = header.entry_type();
    let uid = pax
        .uid
        .map_or_else(|| header.uid(), Ok)
        .map_err(tar_error)?;
    let gid = pax
        .gid
        .map_or_else(|| header.gid(), Ok)
        .map_err(tar_error)?;
    let (secs, nanos) = match pax.mtime {
        Some(t) => t,
        None => (header.mtime().map_err(tar_error)?, 0),
    };
    let device = match kind {
        EntryType::Char | EntryType::Block => (
            header.device_major().map_err(tar_error)?.unwrap_or(0),
            header.device_minor().map_err(tar_error)?.unwrap_or(0),
        ),
        _ => (0, 0),
    };
    let secs = i64::try_from(secs).map_err(|_| unsafe_entry("mtime out of range".into()))?;
    Ok(Meta {
        parts,
        kind,
        mode: header.mode().map_err(tar_error)? & 0o7777,
        uid: u32::try_from(uid).map_err(|_| unsafe_entry(format!("uid {uid} out of range")))?,
        gid: u32::try_from(gid).map_err(|_| unsafe_entry(format!("gid {gid} out of range")))?,
        mtime: TimeSpec::new(secs, i64::from(nanos)),
        link: entry.link_name_bytes().map(|l| l.into_owned()),
        device,
        xattrs: pax.xattrs,
        name,
    })
}

/// PAX records that override or extend the ustar header: ids and times too
/// large or too precise for it, and extended attributes.
#[derive(Default)]
struct PaxOverrides {
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<(u64, u32)>,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl PaxOverrides {
    fn from_records(records: &[(String, Vec<u8>)]) -> PaxOverrides {
        let mut out = PaxOverrides::default();
        for (key, value) in records {
            match key.as_str() {
                "uid" => out.uid = parse_pax_number(value).or(out.uid),
                "gid" => out.gid = parse_pax_number(value).or(out.gid),
                "mtime" => out.mtime = parse_pax_time(value).or(out.mtime),
                _ => {
                    if let Some(x) = key.strip_prefix(PAX_XATTR_PREFIX) {
                        push_xattr(&mut out.xattrs, x, value);
                    }
                }
            }
        }
        out
    }
}

fn push_xattr(xattrs: &mut Vec<(CString, Vec<u8>)>, key: &str, value: &[u8]) {
    if key.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) {
        return;
    }
    if let Ok(k) = CString::new(key) {
        xattrs.push((k, value.to_vec()));
    }
}

fn pax_records<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Vec<(String, Vec<u8>)>> {
    let Some(exts) = entry.pax_extensions()? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for ext in exts {
        let ext = ext?;
        if let Ok(key) = ext.key() {
            out.push((key.to_string(), ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

fn parse_pax_number(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// PAX times are decimal seconds with an optional fraction ("1700000000.5").
/// Times before 1970 are clamped to 0: such layers exist only as oddities.
fn parse_pax_time(value: &[u8]) -> Option<(u64, u32)> {
    let s = std::str::from_utf8(value).ok()?.trim();
    if s.starts_with('-') {
        return Some((0, 0));
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_rules() {
        let parts = |s: &str| clean_path(s.as_bytes());
        assert_eq!(parts("./a//b/./c").unwrap(), ["a", "b", "c"]);
        assert_eq!(parts("/abs/path").unwrap(), ["abs", "path"]);
        assert!(parts("./").unwrap().is_empty());
        assert!(parts("../evil").is_err());
        assert!(parts("a/../../evil").is_err());
    }

    #[test]
    fn pax_time_parsing() {
        assert_eq!(parse_pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(parse_pax_time(b"-5.2"), Some((0, 0)));
        assert_eq!(parse_pax_time(b"x"), None);
    }

    #[test]
    fn pax_records_override_the_header() {
        let records = vec![
            ("uid".to_string(), b"4000000".to_vec()),
            ("gid".to_string(), b"bogus".to_vec()),
            ("mtime".to_string(), b"1700000000.25".to_vec()),
            ("SCHILY.xattr.security.capability".to_string(), vec![1, 2]),
            ("comment".to_string(), b"ignored".to_vec()),
        ];
        let pax = PaxOverrides::from_records(&records);
        assert_eq!(pax.uid, Some(4_000_000));
        assert_eq!(pax.gid, None);
        assert_eq!(pax.mtime, Some((1_700_000_000, 250_000_000)));
        assert_eq!(pax.xattrs.len(), 1);
        assert_eq!(pax.xattrs[0].0.as_c_str(), c"security.capability");
    }

    #[test]
    fn overlay_xattrs_from_the_layer_are_dropped() {
        let mut x = Vec::new();
        push_xattr(&mut x, "trusted.overlay.redirect", b"/etc");
        push_xattr(&mut x, "user.note", b"hi");
        assert_eq!(x.len(), 1);
        assert_eq!(x[0].0.as_c_str(), c"user.note");
    }
}
