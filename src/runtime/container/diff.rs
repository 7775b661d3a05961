//! `diff`: what a container changed in its filesystem, read from its overlay
//! upper dir against the image's layers.
//!
//! Every upper entry is classified against the lower view (the image's
//! snapshots merged top first, honouring their whiteouts and opaque dirs): a
//! whiteout is `D`, a name the image had is `C`, anything else `A`. A
//! directory the container made opaque (`rm -rf /x && mkdir /x`) hides the
//! image's content below it, so each name the image had there and the
//! container did not recreate is listed as `D`.
//!
//! What berth itself puts into the upper dir at start is hidden, as docker
//! hides its init layer: the mount targets of `/etc/hosts`, `/etc/hostname`
//! and `/etc/resolv.conf` (as long as they are the empty placeholder or an
//! unchanged copy of the image's file), the `/proc`, `/sys`, `/dev` (and
//! `/etc`) directories created for mounts, and directories that were only
//! copied up to hold those.
//!
//! [`scan`] builds the tree `commit` writes a layer from, so `diff` and the
//! committed layer always agree.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode};

use super::fstree::{self, Kind};
use super::lifecycle::Container;
use super::record;
use crate::runtime::store::Store;

/// Files berth bind-mounts over at every start (see `etc_files.rs`).
const PLACEHOLDER_FILES: [&[u8]; 3] = [b"etc/hosts", b"etc/hostname", b"etc/resolv.conf"];
/// Directories berth creates when the image lacks them: mount targets, and
/// the parent of the placeholder files.
const PLACEHOLDER_DIRS: [&[u8]; 4] = [b"proc", b"sys", b"dev", b"etc"];
/// A placeholder copied up from the image is compared byte for byte; larger
/// files are not berth's.
const MAX_PLACEHOLDER: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is an overlayfs {feature} entry, which berth cannot translate into changes; mount overlay with {feature}=off"
    )]
    Unsupported { path: String, feature: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    /// docker's letter for the change.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One line of `diff`: `C /etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute inside the container.
    pub path: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path)
    }
}

/// One entry of the upper dir, classified.
#[derive(Debug)]
pub(super) struct Node {
    pub name: OsString,
    pub st: FileStat,
    pub kind: ChangeKind,
    /// Put there by berth, not by the container: neither listed nor committed.
    pub hidden: bool,
    /// A directory carrying overlay's opaque mark.
    pub opaque: bool,
    pub children: Vec<Node>,
    /// Names the image had in this directory that an opaque directory (this
    /// one or one above) hides and the container did not recreate.
    pub gone: Vec<OsString>,
}

impl Node {
    pub fn is_whiteout(&self) -> bool {
        self.kind == ChangeKind::Deleted
    }
}

/// The changes of a container, in docker's order: a depth-first walk with
/// names byte-sorted in each directory, parents before children.
pub fn diff(store: &Store, c: &Container) -> Result<Vec<Change>, DiffError> {
    let dir = record::container_dir(store.root(), &c.record.id);
    changes(&dir.join("upper"), &c.record.config.layers)
}

/// The changes an upper dir makes over `layers` (lowest first).
pub fn changes(upper: &Path, layers: &[PathBuf]) -> Result<Vec<Change>, DiffError> {
    let (nodes, gone) = scan(upper, layers)?;
    let mut out = Vec::new();
    collect(&nodes, &gone, b"", &mut out);
    Ok(out)
}

fn collect(nodes: &[Node], gone: &[OsString], prefix: &[u8], out: &mut Vec<Change>) {
    let mut items: Vec<(&[u8], Option<&Node>)> = nodes
        .iter()
        .map(|n| (n.name.as_bytes(), Some(n)))
        .chain(gone.iter().map(|g| (g.as_bytes(), None)))
        .collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    for (name, node) in items {
        let path = join(prefix, name);
        match node {
            None => out.push(change(ChangeKind::Deleted, &path)),
            Some(n) if n.hidden => {}
            Some(n) => {
                out.push(change(n.kind, &path));
                collect(&n.children, &n.gone, &path, out);
            }
        }
    }
}

fn change(kind: ChangeKind, path: &[u8]) -> Change {
    Change {
        kind,
        path: format!("/{}", String::from_utf8_lossy(path)),
    }
}

/// `prefix/name`, both relative.
pub(super) fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    if !out.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// The classified tree of `upper`, and the names its root hides (none: the
/// root is never opaque).
pub(super) fn scan(
    upper: &Path,
    layers: &[PathBuf],
) -> Result<(Vec<Node>, Vec<OsString>), DiffError> {
    let scanner = Scanner { upper };
    let root = open_host_dir(upper)?;
    let lower = Lower::open(layers)?;
    scanner.dir(root.as_fd(), &lower, b"", false)
}

/// Opens a directory berth itself names (the upper dir, a snapshot).
pub(super) fn open_host_dir(path: &Path) -> Result<OwnedFd, DiffError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    open(path, flags, Mode::empty()).map_err(|e| DiffError::Io {
        op: "open",
        path: path.to_path_buf(),
        source: e.into(),
    })
}

struct Scanner<'a> {
    upper: &'a Path,
}

impl Scanner<'_> {
    fn err(&self, op: &'static str, rel: &[u8]) -> impl FnOnce(Errno) -> DiffError {
        let path = self.upper.join(OsStr::from_bytes(rel));
        move |e| DiffError::Io {
            op,
            path,
            source: e.into(),
        }
    }

    /// The entries of one upper directory. `hide_lower`: an opaque directory
    /// at or above this one hides the image's content here.
    fn dir(
        &self,
        fd: BorrowedFd<'_>,
        lower: &Lower,
        rel: &[u8],
        hide_lower: bool,
    ) -> Result<(Vec<Node>, Vec<OsString>), DiffError> {
        let names = fstree::names(fd).map_err(self.err("list", rel))?;
        let mut nodes = Vec::with_capacity(names.len());
        for name in &names {
            if let Some(node) = self.entry(fd, lower, rel, name, hide_lower)? {
                nodes.push(node);
            }
        }
        let gone = if hide_lower {
            let before = lower.names().map_err(self.err("list the image's", rel))?;
            let present: HashSet<&OsString> = names.iter().collect();
            before
                .into_iter()
                .filter(|n| !present.contains(n))
                .collect()
        } else {
            Vec::new()
        };
        Ok((nodes, gone))
    }

    fn entry(
        &self,
        dir: BorrowedFd<'_>,
        lower: &Lower,
        rel: &[u8],
        name: &OsStr,
        hide_lower: bool,
    ) -> Result<Option<Node>, DiffError> {
        let path = join(rel, name.as_bytes());
        let st = match fstree::lstat(dir, name) {
            Ok(st) => st,
            // Removed by a running container since the listing.
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(self.err("stat", &path)(e)),
        };
        let before = lower
            .lookup(name)
            .map_err(self.err("look up in the image", &path))?;
        let mut node = Node {
            name: name.to_os_string(),
            st,
            kind: match before {
                Some(_) => ChangeKind::Modified,
                None => ChangeKind::Added,
            },
            hidden: false,
            opaque: false,
            children: Vec::new(),
            gone: Vec::new(),
        };
        if fstree::is_whiteout(&st) {
            node.kind = ChangeKind::Deleted;
            return Ok(Some(node));
        }
        if fstree::kind(&st) != Kind::Dir {
            node.hidden = self.is_placeholder_file(dir, &node, &path, before)?;
            return Ok(Some(node));
        }
        let sub = match fstree::open_dir(dir, name) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(None),
            Err(e) => return Err(self.err("open", &path)(e)),
        };
        node.opaque = fstree::is_opaque(sub.as_fd()).map_err(self.err("read xattrs of", &path))?;
        self.refuse_redirect(sub.as_fd(), &path)?;
        let below = lower
            .child(name)
            .map_err(self.err("open in the image", &path))?;
        let (children, gone) = self.dir(sub.as_fd(), &below, &path, hide_lower || node.opaque)?;
        node.children = children;
        node.gone = gone;
        node.hidden = dir_is_placeholder(&node, &path, before.map(|(_, st)| st));
        Ok(Some(node))
    }

    /// A renamed directory carries a redirect to its lower name: its content
    /// is not where it appears, which no tar layer can express.
    fn refuse_redirect(&self, dir: BorrowedFd<'_>, rel: &[u8]) -> Result<(), DiffError> {
        let redirect = fstree::get_xattr(dir, c"trusted.overlay.redirect")
            .map_err(self.err("read xattrs of", rel))?;
        match redirect {
            Some(_) => Err(DiffError::Unsupported {
                path: format!("/{}", String::from_utf8_lossy(rel)),
                feature: "redirect_dir",
            }),
            None => Ok(()),
        }
    }

    /// `/etc/hosts` and co. as berth left them: the empty file it creates, or
    /// the image's own file copied up unchanged by opening it for the mount.
    fn is_placeholder_file(
        &self,
        dir: BorrowedFd<'_>,
        node: &Node,
        rel: &[u8],
        original: Option<(BorrowedFd<'_>, FileStat)>,
    ) -> Result<bool, DiffError> {
        if !PLACEHOLDER_FILES.contains(&rel) || fstree::kind(&node.st) != Kind::File {
            return Ok(false);
        }
        let Some((layer, before)) = original.filter(|(_, b)| fstree::kind(b) == Kind::File) else {
            return Ok(node.st.st_size == 0);
        };
        if !same_owner_mode(&node.st, &before) || node.st.st_size != before.st_size {
            return Ok(false);
        }
        let ours = read_small(dir, &node.name).map_err(self.err("read", rel))?;
        let theirs = read_small(layer, &node.name).map_err(self.err("read the image's", rel))?;
        Ok(ours.is_some() && ours == theirs)
    }
}

/// Whether a directory holds nothing the container changed and was made or
/// copied up by berth.
fn dir_is_placeholder(node: &Node, rel: &[u8], before: Option<FileStat>) -> bool {
    if node.opaque || !node.gone.is_empty() || node.children.iter().any(|c| !c.hidden) {
        return false;
    }
    let Some(before) = before else {
        return PLACEHOLDER_DIRS.contains(&rel);
    };
    // Creating a placeholder inside bumps the mtime; nothing else may differ.
    let touched_by_berth = node.children.iter().any(|c| c.hidden);
    fstree::kind(&before) == Kind::Dir
        && same_owner_mode(&node.st, &before)
        && (touched_by_berth
            || (node.st.st_mtime == before.st_mtime
                && node.st.st_mtime_nsec == before.st_mtime_nsec))
}

fn same_owner_mode(a: &FileStat, b: &FileStat) -> bool {
    a.st_mode == b.st_mode && a.st_uid == b.st_uid && a.st_gid == b.st_gid
}

/// The content of a small regular file; None when it is larger than any
/// placeholder or not a regular file any more.
fn read_small(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<Option<Vec<u8>>> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = match openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ELOOP | Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = nix::sys::stat::fstat(&fd)?;
    if fstree::kind(&st) != Kind::File
        || u64::try_from(st.st_size).unwrap_or(u64::MAX) > MAX_PLACEHOLDER
    {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    File::from(fd)
        .take(MAX_PLACEHOLDER)
        .read_to_end(&mut bytes)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(Some(bytes))
}

/// The image's view of one directory: the layers (top first) that still show
/// through at this path.
pub(super) struct Lower {
    layers: Vec<OwnedFd>,
}

impl Lower {
    /// `layers` lowest first, as the container record lists them.
    pub fn open(layers: &[PathBuf]) -> Result<Lower, DiffError> {
        let layers = layers
            .iter()
            .rev()
            .map(|p| open_host_dir(p))
            .collect::<Result<_, _>>()?;
        Ok(Lower { layers })
    }

    /// The top-most entry `name`, and the layer holding it; None when no
    /// layer has it or the top-most is a whiteout.
    pub fn lookup(&self, name: &OsStr) -> nix::Result<Option<(BorrowedFd<'_>, FileStat)>> {
        for layer in &self.layers {
            match fstree::lstat(layer.as_fd(), name) {
                Ok(st) if fstree::is_whiteout(&st) => return Ok(None),
                Ok(st) => return Ok(Some((layer.as_fd(), st))),
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The view of subdirectory `name`: a non-directory hides the layers
    /// below it, and so does an opaque directory.
    pub fn child(&self, name: &OsStr) -> nix::Result<Lower> {
        let mut layers = Vec::new();
        for layer in &self.layers {
            let st = match fstree::lstat(layer.as_fd(), name) {
                Ok(st) => st,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            if fstree::kind(&st) != Kind::Dir {
                break;
            }
            let fd = fstree::open_dir(layer.as_fd(), name)?;
            let opaque = fstree::is_opaque(fd.as_fd())?;
            layers.push(fd);
            if opaque {
                break;
            }
        }
        Ok(Lower { layers })
    }

    /// Every name the merged layers show in this directory.
    pub fn names(&self) -> nix::Result<Vec<OsString>> {
        let mut seen: HashSet<OsString> = HashSet::new();
        let mut visible = Vec::new();
        for layer in &self.layers {
            for name in fstree::names(layer.as_fd())? {
                if seen.contains(&name) {
                    continue;
                }
                let st = fstree::lstat(layer.as_fd(), &name)?;
                if !fstree::is_whiteout(&st) {
                    visible.push(name.clone());
                }
                seen.insert(name);
            }
        }
        visible.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(visible)
    }
}
