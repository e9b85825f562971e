//! The scripts a workshop host or a teacher runs (`scripts/run.sh`,
//! `scripts/build-site.sh`, `scripts/toolchain.sh` and the Trunk hook they
//! call) work on a Mac as well as on Linux: macOS's `/bin/bash` is 3.2 and
//! its tools are BSD's.
//!
//! No bash 3.2 runs here, so the scripts are read for what 3.2 or BSD
//! lacks, and the Mac branches are run under a fake `uname` on a `PATH` that
//! holds only what a test allows: a missing tool is named with the Homebrew
//! command that installs it, and nothing calls `apt-get`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The scripts a person runs on their own machine, whatever its system.
const PORTABLE_SCRIPTS: &[&str] = &[
    "scripts/run.sh",
    "scripts/toolchain.sh",
    "scripts/build-host.sh",
    "scripts/build-site.sh",
];

/// What bash 3.2 lacks (4.0 and later), with what to write instead.
const NEWER_BASH: &[(&str, &str)] = &[
    ("declare -A", "associative arrays are bash 4"),
    ("local -A", "associative arrays are bash 4"),
    ("declare -n", "name references are bash 4.3"),
    ("local -n", "name references are bash 4.3"),
    ("mapfile", "mapfile is bash 4: read in a while loop"),
    ("readarray", "readarray is bash 4: read in a while loop"),
    ("coproc", "coproc is bash 4"),
    ("wait -n", "wait -n is bash 4.3"),
    ("|&", "|& is bash 4: write 2>&1 |"),
    ("&>>", "&>> is bash 4: write >>file 2>&1"),
    (";;&", ";;& is bash 4"),
    ("${EPOCHSECONDS", "EPOCHSECONDS is bash 5"),
    ("${EPOCHREALTIME", "EPOCHREALTIME is bash 5"),
    ("globstar", "globstar is bash 4"),
    (",,}", "case conversion is bash 4: use tr"),
    ("^^}", "case conversion is bash 4: use tr"),
    ("@Q}", "${x@Q} is bash 4.4"),
];

/// GNU tools' flags that BSD's (macOS) do not have.
const GNU_ONLY: &[(&str, &str)] = &[
    (
        "sed -i ",
        "BSD sed -i takes a suffix: write to a temporary file",
    ),
    ("sed -r", "write sed -E"),
    ("grep -P", "BSD grep has no -P"),
    ("readlink -f", "readlink -f is missing on older macOS"),
    ("date -d", "BSD date has no -d"),
    ("stat -c", "BSD stat has no -c"),
    ("-printf", "BSD find has no -printf"),
    ("xargs -r", "BSD xargs has no -r"),
    ("nproc", "macOS has no nproc: sysctl -n hw.ncpu"),
    ("timeout ", "macOS has no timeout"),
    ("sha256sum", "macOS has shasum -a 256"),
    ("tac ", "macOS has no tac"),
    ("--color", "BSD tools take no --color"),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What in `script` (a file's text) bash 3.2 or a BSD tool would not
/// run, one line each, or nothing. Comments are not read.
fn portability_problems(name: &str, script: &str) -> Vec<String> {
    let lines: Vec<(usize, &str)> = script
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with('#'))
        .map(|(index, line)| (index + 1, line))
        .collect();
    let mut found = Vec::new();
    for (number, line) in &lines {
        for (construct, why) in NEWER_BASH.iter().chain(GNU_ONLY) {
            if line.contains(construct) {
                found.push(format!("{name}:{number}: `{construct}`: {why}"));
            }
        }
    }
    // An array that may be empty cannot be expanded under `set -u` in bash
    // 3.2 ("unbound variable"), however it is quoted.
    for (_, line) in &lines {
        let Some(array) = line.trim().strip_suffix("=()") else {
            continue;
        };
        let expansion = format!("\"${{{array}[@]}}\"");
        for (number, line) in &lines {
            if line.contains(&expansion) {
                found.push(format!(
                    "{name}:{number}: {expansion} of an array that may be empty"
                ));
            }
        }
    }
    found
}

#[test]
fn the_scripts_use_nothing_bash_3_2_or_bsd_tools_lack() {
    let found: Vec<String> = PORTABLE_SCRIPTS
        .iter()
        .flat_map(|script| {
            let text = std::fs::read_to_string(workspace().join(script)).unwrap();
            portability_problems(script, &text)
        })
        .collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn each_construct_a_mac_lacks_is_found_and_comments_are_not_read() {
    let mut script = String::from("# mapfile in a comment is fine\nargs=()\nrun \"${args[@]}\"\n");
    for (construct, _) in NEWER_BASH.iter().chain(GNU_ONLY) {
        script.push_str(&format!("x {construct} y\n"));
    }
    let found = portability_problems("bad.sh", &script);
    assert_eq!(
        found.len(),
        1 + NEWER_BASH.len() + GNU_ONLY.len(),
        "{found:#?}"
    );
    assert!(
        found[..NEWER_BASH.len() + GNU_ONLY.len()]
            .iter()
            .all(|problem| !problem.starts_with("bad.sh:1:"))
    );
    assert!(
        found.last().unwrap().contains("array that may be empty"),
        "{found:#?}"
    );
    assert_eq!(
        portability_problems("good.sh", "set -- a b\nrun \"$@\"\n"),
        Vec::<String>::new()
    );
}

/// A directory to put on `PATH` instead of the system's: bash itself, the
/// few tools `run_step` uses, and stubs that play the system: `uname`
/// answers `system`, and `apt-get`, `sudo` and `npm` record that they were
/// called (in `calls`) and succeed.
struct FakeMachine {
    dir: tempfile::TempDir,
}

impl FakeMachine {
    fn new(system: &str) -> Self {
        let dir = tempfile::tempdir_in(workspace().join("target")).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for tool in ["bash", "mktemp", "rm", "sleep", "tail", "mkdir"] {
            let real = which(tool);
            std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
        }
        let calls = dir.path().join("calls");
        let stub = |name: &str, body: String| {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!{}\n{body}\n", which("bash").display())).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        stub("uname", format!("echo {system}"));
        stub("id", "echo 0".to_owned());
        for recorder in ["apt-get", "sudo"] {
            stub(
                recorder,
                format!("echo \"{recorder} $*\" >> '{}'", calls.display()),
            );
        }
        FakeMachine { dir }
    }

    /// Runs `snippet` in bash after sourcing `scripts/toolchain.sh`, on this
    /// machine's `PATH` alone: (succeeded, what it logged).
    fn run(&self, snippet: &str) -> (bool, String) {
        let output = Command::new(self.dir.path().join("bin/bash"))
            .arg("-c")
            .arg(format!(
                "set -euo pipefail; source scripts/toolchain.sh; {snippet}"
            ))
            .current_dir(workspace())
            .env_clear()
            .env("PATH", self.dir.path().join("bin"))
            .env("HOME", self.dir.path())
            .env("LOOPSCOPE_TOOLS", self.dir.path().join("tools"))
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default()
    }
}

fn which(tool: &str) -> PathBuf {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .unwrap();
    assert!(found.status.success(), "{tool} is on this machine");
    PathBuf::from(String::from_utf8(found.stdout).unwrap().trim())
}

#[test]
fn on_a_mac_a_missing_tool_is_named_with_its_homebrew_command_and_apt_get_is_never_run() {
    let mac = FakeMachine::new("Darwin");
    let (ok, said) = mac.run("ensure_wasm_opt");
    assert!(!ok, "wasm-opt cannot be installed without npm");
    assert!(said.contains("`brew install node`"), "{said}");
    let (ok, said) = mac.run("ensure_browser");
    assert!(!ok, "no Chromium on this Mac");
    assert!(said.contains("the test command runs on Linux"), "{said}");
    assert!(said.contains("scripts/run.sh"), "{said}");
    let (ok, said) = mac.run("ensure_web_toolchain");
    assert!(!ok);
    assert!(said.contains("https://rustup.rs"), "{said}");
    assert_eq!(
        mac.calls(),
        "",
        "nothing was installed with apt-get on a Mac"
    );
}

#[test]
fn on_linux_the_missing_tools_are_named_with_apt_get_and_chromium_is_installed_with_it() {
    let linux = FakeMachine::new("Linux");
    let (ok, said) = linux.run("ensure_wasm_opt");
    assert!(!ok);
    assert!(said.contains("`sudo apt-get install npm`"), "{said}");
    assert_eq!(linux.calls(), "", "npm is named, not installed");
    let (ok, said) = linux.run("ensure_browser");
    assert!(ok, "{said}");
    let calls = linux.calls();
    assert!(calls.contains("apt-get update"), "{calls}");
    assert!(
        calls.contains("apt-get install -y -qq chromium chromium-driver"),
        "{calls}"
    );
}
