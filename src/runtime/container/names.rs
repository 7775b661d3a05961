//! Container ids (64 hex characters) and generated names (`adjective_name`).

use std::io::Read;

const ADJECTIVES: &[&str] = &[
    "able", "agile", "amber", "ample", "brave", "brisk", "calm", "clever", "cosmic", "crisp",
    "daring", "deft", "eager", "early", "fair", "fancy", "fleet", "fond", "gentle", "glad",
    "golden", "grand", "happy", "hardy", "humble", "jolly", "keen", "kind", "lively", "lucid",
    "merry", "mellow", "nimble", "noble", "patient", "placid", "plucky", "proud", "quick", "quiet",
    "rapid", "ready", "serene", "sharp", "steady", "sunny", "swift", "tidy", "vivid", "witty",
];

const NAMES: &[&str] = &[
    "albatross",
    "anchor",
    "atoll",
    "beacon",
    "bollard",
    "buoy",
    "cabin",
    "capstan",
    "cove",
    "current",
    "delta",
    "dinghy",
    "dock",
    "estuary",
    "ferry",
    "fjord",
    "galley",
    "gull",
    "harbor",
    "hull",
    "inlet",
    "island",
    "jetty",
    "keel",
    "kelp",
    "lagoon",
    "lantern",
    "mast",
    "marina",
    "mooring",
    "narwhal",
    "oar",
    "orca",
    "pelican",
    "pier",
    "quay",
    "reef",
    "rudder",
    "sail",
    "shoal",
    "skiff",
    "sloop",
    "sound",
    "strait",
    "tide",
    "wake",
    "wharf",
    "whale",
    "yawl",
    "zephyr",
];

/// 32 random bytes as 64 lowercase hex characters, from the kernel's CSPRNG.
pub fn new_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A name derived from the id, so it is stable for a given id; `attempt` > 0 adds
/// a numeric suffix when the plain name is taken.
pub fn generate_name(id: &str, attempt: u32) -> String {
    let seed = u64::from_str_radix(id.get(..12).unwrap_or("0"), 16).unwrap_or(0);
    let adjective = ADJECTIVES[(seed % ADJECTIVES.len() as u64) as usize];
    let name = NAMES[((seed / 997) % NAMES.len() as u64) as usize];
    match attempt {
        0 => format!("{adjective}_{name}"),
        n => format!("{adjective}_{name}{n}"),
    }
}

/// Docker's rule for user-given names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() -> std::io::Result<()> {
        let id = new_id()?;
        assert_eq!(id.len(), 64);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(id, new_id()?);
        Ok(())
    }

    #[test]
    fn names() {
        let id = "3f57d9401f8d3f57d9401f8d3f57d9401f8d3f57d9401f8d3f57d9401f8d3f57";
        assert_eq!(generate_name(id, 0), generate_name(id, 0));
        assert!(generate_name(id, 2).ends_with('2'));
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
    }
}
