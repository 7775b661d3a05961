//! Fuzz harness of the docker-style flag parsers (see `crate::fuzzing`): it
//! lives here because the parsers are private to the CLI.

use clap::Parser;
use oci_spec::image::ImageConfiguration;

use super::container_flags::ContainerFlags;
use super::{Cli, Command};
use crate::runtime::container::lifecycle::parse_signal;
use crate::runtime::image::config::ImageHealthcheck;
use crate::runtime::image::{Digest, Image, Reference, changes};
use crate::runtime::monitor::restart::Policy;
use crate::runtime::network::{endpoint, subnet::Subnet};
use crate::runtime::security::caps::parse_cap;
use crate::spec::duration::Duration;
use crate::spec::normalize::{ports, volumes};
use crate::spec::units::parse_bytes;

/// Input starting with this line is a `berth run` command line, one argument
/// per line; anything else is one flag value given to every parser.
const RUN_PREFIX: &str = "run\n";

pub fn flags(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match text.strip_prefix(RUN_PREFIX) {
        Some(rest) => run_line(rest, &image(ImageConfiguration::default(), None)),
        None => each_parser(&text),
    }
}

/// A container's configuration from an image config a registry sent, with
/// no flags: everything the image sets goes through the run-flag rules.
pub fn image_config(config: ImageConfiguration, health: Option<ImageHealthcheck>) {
    run_line("", &image(config, health));
}

fn each_parser(text: &str) {
    let _ = parse_bytes(text);
    let _ = Duration::parse(text).map(Duration::as_std);
    let _ = ports::parse_short(text);
    let _ = volumes::parse_short(text);
    let _ = super::publish::parse_publish(text);
    let _ = super::publish::parse_expose(text);
    let _ = super::mount_flags::parse_volume(text);
    let _ = super::mount_flags::parse_mount(text);
    let _ = super::mount_flags::parse_tmpfs(text);
    let _ = super::logs::parse_tail(text);
    let _ = parse_signal(text);
    let _ = parse_cap(text);
    let _ = Policy::validate(text);
    let _ = changes::parse(text);
    let _ = Digest::parse(text);
    let _ = Subnet::parse(text);
    let _ = endpoint::parse_ip(Some(text));
    if let Ok(r) = Reference::parse(text) {
        let _ = (r.familiar(), r.tag_key(), r.with_tag("latest"));
    }
}

/// `berth run ARGS... IMAGE` parsed as the CLI does, then turned into a
/// container configuration. `--env-file` is dropped: it reads a host file.
fn run_line(args: &str, image: &Image) {
    let argv = ["berth", "run"]
        .into_iter()
        .chain(args.lines().filter(|a| !a.contains("env-file")))
        .chain(["fuzz-image"]);
    let Ok(cli) = Cli::try_parse_from(argv) else {
        return;
    };
    if let Command::Run(run) = cli.command {
        config(&run.flags, image);
    }
}

fn config(flags: &ContainerFlags, image: &Image) {
    let _ = flags.to_config(image, "0123456789abcdef");
}

fn image(config: ImageConfiguration, healthcheck: Option<ImageHealthcheck>) -> Image {
    let id = Digest::of_bytes(b"fuzz");
    Image {
        id: id.clone(),
        reference: None,
        tags: Vec::new(),
        manifest: id,
        config,
        chain: Vec::new(),
        layer_dirs: Vec::new(),
        size: 0,
        created: None,
        healthcheck,
    }
}
