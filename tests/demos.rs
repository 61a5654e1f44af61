//! Every demo script is a test: its whole output (stdout, stderr, exit code) on the built-in
//! vocabulary must equal the checked-in transcript in tests/snapshots/. Needs no download.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::demos_cache;

fn transcript(demo: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(assert_cmd::cargo::cargo_bin("vecsh"))
        .current_dir(&root)
        .arg(format!("demos/{demo}.vsh"))
        // One cache for all demos, so the built-in index is built once (the lock serialises
        // builders).
        .env("VECSH_CACHE", demos_cache())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    format!(
        "{}--- stderr ---\n{}--- exit {} ---\n",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1)
    )
}

macro_rules! demo {
    ($name:ident) => {
        #[test]
        fn $name() {
            snapshot!(stringify!($name), transcript(stringify!($name)));
        }
    };
}

demo!(capitals);
demo!(royalty);
demo!(comparatives);
demo!(similarity);
demo!(named);
demo!(errors);
demo!(maps);

#[test]
fn every_demo_has_a_test() {
    let mut demos: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("demos"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".vsh"))
            .collect();
    demos.sort();
    assert_eq!(
        demos,
        [
            "capitals.vsh",
            "comparatives.vsh",
            "errors.vsh",
            "maps.vsh",
            "named.vsh",
            "royalty.vsh",
            "similarity.vsh"
        ]
    );
}

/// With `--json`, every line a demo prints on stdout is one JSON object with a `kind` (issue 23:
/// `:info`, `:help`, `:eval` and more printed text tables, so `jq` failed).
#[test]
fn every_demo_prints_only_json_objects_with_json() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut demos: Vec<PathBuf> = std::fs::read_dir(root.join("demos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vsh"))
        .collect();
    demos.sort();
    for demo in demos {
        let out = Command::new(assert_cmd::cargo::cargo_bin("vecsh"))
            .current_dir(&root)
            .arg("--json")
            .arg(&demo)
            .env("VECSH_CACHE", demos_cache())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(!stdout.is_empty(), "{}", demo.display());
        for line in stdout.lines() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: {e}: {line}", demo.display()));
            assert!(
                value.get("kind").is_some_and(|k| k.is_string()),
                "{}: {line}",
                demo.display()
            );
        }
    }
}
