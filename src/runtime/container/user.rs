//! `-u user[:group]` resolved against the container's own /etc/passwd and
//! /etc/group, as docker does (numeric ids need no entry).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

/// `passwd` and `group` are the files' contents (empty when missing).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, String> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = find_user(passwd, user_part);
    let (uid, mut gid, home) = match (&entry, user_part.parse::<u32>()) {
        (Some(e), _) => (e.1, e.2, e.3.clone()),
        (None, Ok(uid)) => (uid, 0, "/".to_string()),
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            ));
        }
    };
    if let Some(g) = group_part {
        gid = match (find_group(group, g), g.parse::<u32>()) {
            (Some(found), _) => found,
            (None, Ok(n)) => n,
            (None, Err(_)) => {
                return Err(format!(
                    "unable to find group {g}: no matching entries in group file"
                ));
            }
        };
    }
    let name = entry.map(|e| e.0).unwrap_or_default();
    let groups = if group_part.is_none() && !name.is_empty() {
        supplementary(group, &name, gid)
    } else {
        Vec::new()
    };
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home,
    })
}

/// (name, uid, gid, home) of the entry matching a name or a uid.
fn find_user(passwd: &str, wanted: &str) -> Option<(String, u32, u32, String)> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 || line.starts_with('#') {
            return None;
        }
        let (uid, gid) = (f[2].parse().ok()?, f[3].parse().ok()?);
        (f[0] == wanted || f[2] == wanted).then(|| (f[0].to_string(), uid, gid, f[5].to_string()))
    })
}

fn find_group(group: &str, wanted: &str) -> Option<u32> {
    group.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 {
            return None;
        }
        (f[0] == wanted || f[2] == wanted)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

fn supplementary(group: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut out = vec![primary];
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || !f[3].split(',').any(|m| m == user) {
            continue;
        }
        if let Ok(gid) = f[2].parse::<u32>()
            && !out.contains(&gid)
        {
            out.push(gid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nweb:x:1000:1000::/home/web:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\nwheel:x:10:web\n";

    fn ids(spec: &str) -> Result<(u32, u32, Vec<u32>), String> {
        resolve(spec, PASSWD, GROUP).map(|u| (u.uid, u.gid, u.groups))
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(ids(""), Ok((0, 0, vec![0])));
        assert_eq!(ids("nobody"), Ok((65534, 65534, vec![65534])));
        assert_eq!(ids("web"), Ok((1000, 1000, vec![1000, 10])));
        assert_eq!(ids("1000:10"), Ok((1000, 10, vec![])));
        assert_eq!(ids("4242"), Ok((4242, 0, vec![])));
        assert_eq!(ids("4242:4242"), Ok((4242, 4242, vec![])));
        assert_eq!(ids("web:wheel"), Ok((1000, 10, vec![])));
    }

    #[test]
    fn unknown_names_fail_like_docker() {
        assert!(ids("ghost").is_err_and(|e| e.contains("unable to find user ghost")));
        assert!(ids("web:ghosts").is_err_and(|e| e.contains("unable to find group ghosts")));
    }
}
