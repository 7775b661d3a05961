//! The OCI runtime spec of a container start: the same namespaces, mounts,
//! capabilities, masks and limits berth's own init applies, written beside the
//! container as `config.oci.json` so other tools (and runc, in the peer test)
//! can read exactly what berth did. Checked against oci-spec's types.
//!
//! Not expressed yet: the seccomp filter (berth builds it as BPF from syscall
//! numbers; the spec wants names).

use serde_json::{Value, json};

use super::init::{InitPlan, final_env, nofile_limit};
use super::user::{self, ExecUser};
use crate::runtime::cgroup::{DEFAULT_DEVICE_RULES, Limits};
use crate::runtime::security::paths::{MASKED_PATHS, READONLY_PATHS};

pub const SPEC_FILE: &str = "config.oci.json";

/// `cgroups_path` is relative to the cgroup root, e.g. `berth/<id>`.
pub fn runtime_spec(
    plan: &InitPlan,
    limits: &Limits,
    cgroups_path: &str,
) -> Result<oci_spec::runtime::Spec, String> {
    let caps: Vec<String> = plan.caps.iter().map(|c| c.to_string()).collect();
    let user = image_user(plan)?;
    let env = final_env(&plan.env, &plan.hostname, plan.tty, &user);
    let nofile = nofile_limit();
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    match &plan.netns {
        Some((_, path)) => namespaces.push(json!({"type": "network", "path": path})),
        None if plan.own_netns => namespaces.push(json!({"type": "network"})),
        None => {}
    }
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": plan.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.groups},
            "args": plan.args,
            "env": env,
            "cwd": if plan.working_dir.is_empty() { "/" } else { plan.working_dir.as_str() },
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
                "inheritable": [], "ambient": []
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": plan.no_new_privileges
        },
        "root": {"path": plan.rootfs.rootfs.display().to_string(), "readonly": plan.read_only},
        "hostname": plan.hostname,
        "mounts": mounts(plan),
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": cgroups_path,
            "resources": resources(limits, plan.privileged),
            "maskedPaths": if plan.privileged { Vec::new() } else { MASKED_PATHS.to_vec() },
            "readonlyPaths": if plan.privileged { Vec::new() } else { READONLY_PATHS.to_vec() }
        }
    });
    serde_json::from_value(spec).map_err(|e| format!("building the OCI spec: {e}"))
}

/// The user as the init will resolve it, from the image's topmost passwd and
/// group files.
fn image_user(plan: &InitPlan) -> Result<ExecUser, String> {
    let read = |name: &str| -> String {
        plan.rootfs
            .layers
            .iter()
            .rev()
            .find_map(|layer| std::fs::read_to_string(layer.join("etc").join(name)).ok())
            .unwrap_or_default()
    };
    user::resolve(&plan.user, &read("passwd"), &read("group"))
}

fn mounts(plan: &InitPlan) -> Vec<Value> {
    let mut sys_options = vec!["nosuid", "noexec", "nodev"];
    if !plan.own_netns {
        sys_options.insert(0, "rbind");
    }
    if !plan.privileged {
        sys_options.push("ro");
    }
    let mut out = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": if plan.own_netns { "sysfs" } else { "bind" }, "source": if plan.own_netns { "sysfs" } else { "/sys" }, "options": sys_options}),
    ];
    for (source, dest) in &plan.rootfs.files {
        out.push(json!({"destination": dest, "type": "bind", "source": source.display().to_string(), "options": ["rbind", "rprivate"]}));
    }
    out.extend(plan.rootfs.mounts.iter().map(super::mounts::oci_mount));
    out
}

fn resources(limits: &Limits, privileged: bool) -> Value {
    let mut devices = vec![json!({"allow": privileged, "access": "rwm"})];
    if !privileged {
        devices.extend(
            DEFAULT_DEVICE_RULES
                .iter()
                .filter_map(|rule| device_rule(rule)),
        );
    }
    let mut res = json!({"devices": devices});
    if let Some(memory) = limits.memory {
        res["memory"] =
            json!({"limit": memory, "swap": limits.memory_swap.unwrap_or(memory as i64 * 2)});
    }
    let mut cpu = json!({});
    if let Some(cpus) = limits.cpus {
        cpu["quota"] = json!((cpus * 100_000.0).round() as i64);
        cpu["period"] = json!(100_000u64);
    }
    if let Some(shares) = limits.cpu_shares {
        cpu["shares"] = json!(shares);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        res["cpu"] = cpu;
    }
    if let Some(pids) = limits.pids {
        res["pids"] = json!({"limit": pids});
    }
    res
}

/// `c 1:3 rwm` in OCI form; `*` majors and minors become absent fields.
fn device_rule(rule: &str) -> Option<Value> {
    let mut parts = rule.split_whitespace();
    let (kind, numbers, access) = (parts.next()?, parts.next()?, parts.next()?);
    let (major, minor) = numbers.split_once(':')?;
    let mut out = json!({"allow": true, "type": kind, "access": access});
    if let Ok(m) = major.parse::<i64>() {
        out["major"] = json!(m);
    }
    if let Ok(m) = minor.parse::<i64>() {
        out["minor"] = json!(m);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules_translate() {
        assert_eq!(
            device_rule("c 1:3 rwm"),
            Some(json!({"allow": true, "type": "c", "access": "rwm", "major": 1, "minor": 3}))
        );
        assert_eq!(
            device_rule("c *:* m"),
            Some(json!({"allow": true, "type": "c", "access": "m"}))
        );
        assert_eq!(
            device_rule("c 136:* rwm"),
            Some(json!({"allow": true, "type": "c", "access": "rwm", "major": 136}))
        );
    }
}
