//! Space across the store: `system df`, `system prune`, `container prune`.

use std::collections::HashSet;
use std::path::Path;

use clap::Args;

use super::images::confirm;
use super::output::{human_size, table};
use super::{CliError, engine, print};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::record;
use crate::runtime::image::remove::{self, Removal};
use crate::runtime::image::{ImageStore, snapshot};
use crate::runtime::store::Store;

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// What a container holds on disk besides its image: its upper layer.
fn container_size(store: &Store, c: &Container) -> u64 {
    snapshot::disk_usage(&record::container_dir(store.root(), &c.record.id).join("upper"))
}

pub fn df(root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let containers = lifecycle::list(&store).map_err(engine)?;
    let used: HashSet<&str> = containers
        .iter()
        .map(|c| c.record.image_id.as_str())
        .collect();
    let images = ImageStore::new(&store).all().map_err(engine)?;
    let (mut image_size, mut image_free, mut active_images) = (0, 0, 0);
    for image in &images {
        image_size += image.size;
        if used.contains(image.id.as_str()) {
            active_images += 1;
        } else {
            image_free += image.size;
        }
    }
    let (mut ctr_size, mut ctr_free, mut running) = (0, 0, 0);
    for c in &containers {
        let size = container_size(&store, c);
        ctr_size += size;
        if c.is_running() {
            running += 1;
        } else {
            ctr_free += size;
        }
    }
    let row = |kind: &str, total: usize, active: usize, size: u64, free: u64| {
        vec![
            kind.to_string(),
            total.to_string(),
            active.to_string(),
            human_size(size, 4),
            format!("{} ({}%)", human_size(free, 4), percent(free, size)),
        ]
    };
    let mut rows = vec![
        row(
            "Images",
            images.len(),
            active_images,
            image_size,
            image_free,
        ),
        row("Containers", containers.len(), running, ctr_size, ctr_free),
    ];
    let (volumes, active_volumes, volume_size, volume_free) = super::volume::disk_usage(&store)?;
    rows.push(row(
        "Local Volumes",
        volumes,
        active_volumes,
        volume_size,
        volume_free,
    ));
    print(&table(
        &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        &rows,
    ))?;
    Ok(0)
}

fn percent(part: u64, whole: u64) -> u64 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

/// Removes every stopped container; returns their ids and the bytes freed.
fn prune_containers(store: &Store) -> Result<(Vec<String>, u64), CliError> {
    let mut ids = Vec::new();
    let mut freed = 0;
    for c in lifecycle::list(store).map_err(engine)? {
        if c.is_running() {
            continue;
        }
        let size = container_size(store, &c);
        if lifecycle::remove(store, &c, false).is_ok() {
            ids.push(c.record.id.clone());
            freed += size;
        }
    }
    Ok((ids, freed))
}

pub fn container_prune(args: &ContainerPruneArgs, root: &Path) -> Result<i32, CliError> {
    if !args.force
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )?
    {
        return Ok(0);
    }
    let store = Store::open(root).map_err(engine)?;
    let (ids, freed) = prune_containers(&store)?;
    let mut out = String::new();
    push_section(&mut out, "Deleted Containers:", &ids);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(freed, 4)
    ));
    print(&out)?;
    Ok(0)
}

pub fn system_prune(args: &SystemPruneArgs, root: &Path) -> Result<i32, CliError> {
    let images = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    let volumes = match args.volumes {
        true => "  - all anonymous volumes not used by at least one container\n",
        false => "",
    };
    let warning = format!(
        "WARNING! This will remove:\n  - all stopped containers\n{volumes}  - {images}\n\nAre you sure you want to continue?"
    );
    if !args.force && !confirm(&warning)? {
        return Ok(0);
    }
    let store = Store::open(root).map_err(engine)?;
    let (ids, container_bytes) = prune_containers(&store)?;
    let volumes = match args.volumes {
        true => super::volume::prune_volumes(&store, false, |_| true)?,
        false => Default::default(),
    };
    let pruned = remove::prune(&store, args.all).map_err(engine)?;
    let lines: Vec<String> = pruned
        .removed
        .iter()
        .map(|r| match r {
            Removal::Untagged(t) => format!("untagged: {t}"),
            Removal::Deleted(d) => format!("deleted: {d}"),
        })
        .collect();
    let mut out = String::new();
    push_section(&mut out, "Deleted Containers:", &ids);
    push_section(&mut out, "Deleted Volumes:", &volumes.names);
    push_section(&mut out, "Deleted Images:", &lines);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(container_bytes + volumes.reclaimed + pruned.reclaimed, 4)
    ));
    print(&out)?;
    Ok(0)
}

/// docker prints a section only when it has entries, then a blank line.
pub(super) fn push_section(out: &mut String, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    out.push_str(title);
    out.push('\n');
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_percentages() {
        let mut out = String::new();
        push_section(&mut out, "Deleted Containers:", &[]);
        assert!(out.is_empty());
        push_section(&mut out, "Deleted Images:", &["deleted: sha256:ab".into()]);
        assert_eq!(out, "Deleted Images:\ndeleted: sha256:ab\n\n");
        assert_eq!(percent(1, 4), 25);
        assert_eq!(percent(5, 0), 0);
    }
}
