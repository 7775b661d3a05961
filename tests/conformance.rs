//! Every real compose file in ../shared/corpus loads, and every known-invalid one
//! fails with the kind of error its README names.

mod support;

use std::path::Path;

use berth::spec::{LoadOptions, SpecError, emit, load, load_text};
use support::corpus::{corpus_dir, stack_files};

/// Files that must fail, and a piece of the message that says why.
const EXPECTED_FAILURES: &[(&str, &str)] = &[
    (
        "compose-go-testdata/loader/testdata/compose-depends-on-cycle.yaml",
        "dependency cycle detected: service1 -> service2 -> service3 -> service1",
    ),
    (
        "compose-go-testdata/loader/testdata/compose-depends-on-self.yaml",
        "dependency cycle detected: service1 -> service1",
    ),
    // The corpus README calls this one valid, but the stored file is byte for byte
    // the cycle above, with no profiles: a real cycle.
    (
        "compose-go-testdata/loader/testdata/compose-depends-on-profile-no-cycle.yaml",
        "dependency cycle detected: service1 -> service2 -> service3 -> service1",
    ),
    (
        "compose-go-testdata/loader/testdata/compose-include-cycle.yaml",
        "include cycle detected",
    ),
    (
        "compose-e2e-fixtures/wrong-composefile/compose.yaml",
        "compose.yaml:4:5: services.simple: unknown key `wrongField`",
    ),
    (
        "compose-go-testdata/loader/testdata/empty.yaml",
        "empty stack file",
    ),
    // A bodiless `nil:` service, valid only as an extends base.
    (
        "compose-go-testdata/loader/testdata/extends/base.yaml",
        "base.yaml:26:1: services.nil: must be an object, not null",
    ),
    // Remote (git/OCI) extends are refused with a clear message.
    (
        "compose-go-testdata/loader/testdata/remote/cycle/compose.yaml",
        "is not supported",
    ),
    (
        "compose-go-testdata/loader/testdata/remote/cycle/compose-cycle.yaml",
        "is not supported",
    ),
    (
        "compose-go-testdata/loader/testdata/remote/nested/compose.yaml",
        "is not supported",
    ),
    // Needs ID set; loads when it is (see below).
    (
        "compose-e2e-fixtures/simple-composefile/id.yaml",
        "required variable ID is missing a value",
    ),
    // Env files these stacks require are not in the corpus (or, for
    // /doesnotexist/.env, are missing on purpose).
    (
        "compose-e2e-fixtures/dotenv/raw.yaml",
        "cannot read env file",
    ),
    (
        "compose-e2e-fixtures/env_file/compose.yaml",
        "/doesnotexist/.env",
    ),
    (
        "compose-e2e-fixtures/environment/env-priority/compose-with-env-file.yaml",
        "cannot read env file",
    ),
    // Meant to be included with project_directory ../subdir, where extra.env is.
    (
        "compose-go-testdata/loader/testdata/include/dir/compose.yaml",
        "extra.env",
    ),
];

fn options(file: &Path) -> LoadOptions {
    let mut environ = std::collections::BTreeMap::new();
    environ.insert("HOME".to_string(), "/root".to_string());
    LoadOptions {
        files: vec![file.to_path_buf()],
        cwd: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        environ,
        ..LoadOptions::default()
    }
}

fn relative(file: &Path) -> String {
    file.strip_prefix(corpus_dir())
        .unwrap_or(file)
        .display()
        .to_string()
}

#[test]
fn corpus_loads_or_fails_as_expected() {
    let files = stack_files();
    assert!(
        files.len() > 150,
        "corpus not found or too small: {}",
        files.len()
    );
    let (mut loaded, mut failed_as_expected) = (0, 0);
    let mut wrong: Vec<String> = Vec::new();
    for file in &files {
        let rel = relative(file);
        let expected = EXPECTED_FAILURES.iter().find(|(f, _)| *f == rel);
        match (load(&options(file)), expected) {
            (Ok(_), None) => loaded += 1,
            (Err(e), Some((_, needle))) if e.to_string().contains(needle) => {
                failed_as_expected += 1
            }
            (Err(e), _) => wrong.push(format!("{rel}: unexpected error: {e}")),
            (Ok(_), Some((_, needle))) => {
                wrong.push(format!("{rel}: loaded, but should fail with {needle:?}"))
            }
        }
    }
    println!(
        "corpus: {} files, {loaded} loaded, {failed_as_expected} failed as expected, {} wrong",
        files.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(failed_as_expected, EXPECTED_FAILURES.len());
}

#[test]
fn required_variable_file_loads_when_set() -> Result<(), SpecError> {
    let file = corpus_dir().join("compose-e2e-fixtures/simple-composefile/id.yaml");
    let mut opts = options(&file);
    opts.environ.insert("ID".into(), "42".into());
    let project = load(&opts)?;
    let image = project
        .services
        .values()
        .next()
        .and_then(|s| s.image.clone());
    assert!(image.is_some_and(|i| i.contains("42")));
    Ok(())
}

#[test]
fn invalid_env_file_names_its_line() {
    let env_file = corpus_dir().join("compose-go-testdata/dotenv/fixtures/invalid1.env");
    let stack = corpus_dir().join("compose-e2e-fixtures/simple-composefile/compose.yaml");
    let mut opts = options(&stack);
    opts.env_files = vec![env_file];
    let err = load(&opts).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("invalid1.env:7: invalid line in env file"),
        "{err}"
    );
}

#[test]
fn known_runtime_failures_still_load() -> Result<(), SpecError> {
    for rel in [
        "compose-e2e-fixtures/wrong-composefile/build-error.yml",
        "compose-e2e-fixtures/wrong-composefile/unknown-image.yml",
        "compose-e2e-fixtures/start-fail/compose.yaml",
    ] {
        load(&options(&corpus_dir().join(rel)))?;
    }
    Ok(())
}

#[test]
fn include_with_project_directory_resolves_there() -> Result<(), SpecError> {
    let file =
        corpus_dir().join("compose-go-testdata/loader/testdata/include/project-directory.yaml");
    let project = load(&options(&file))?;
    let svc = project.services.get("service");
    let env = svc.map(|s| s.environment.clone()).unwrap_or_default();
    assert!(!env.is_empty(), "extra.env from ../subdir was not read");
    Ok(())
}

#[test]
fn extends_reset_removes_the_command() -> Result<(), SpecError> {
    let file = corpus_dir().join("compose-go-testdata/loader/testdata/extends/reset.yaml");
    let project = load(&options(&file))?;
    let base = project.services.get("base");
    assert_eq!(
        base.and_then(|s| s.image.clone()).as_deref(),
        Some("alpine:latest")
    );
    assert_eq!(base.and_then(|s| s.command.clone()), None);
    Ok(())
}

/// What `berth config` prints is itself a stack file that loads to the same project.
#[test]
fn printed_config_loads_back_unchanged() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in stack_files() {
        let opts = options(&file);
        let Ok(project) = load(&opts) else { continue };
        let json = project.to_json();
        match load_text(&emit::to_yaml(&json), &opts) {
            Ok(again) if again.to_json() == json => checked += 1,
            Ok(again) => wrong.push(format!(
                "{}: differs after a round trip:\n{}\n---\n{}",
                relative(&file),
                json,
                again.to_json()
            )),
            Err(e) => wrong.push(format!(
                "{}: printed config does not load: {e}",
                relative(&file)
            )),
        }
    }
    println!("round trip: {checked} corpus files print and reload identically");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked > 150);
}
