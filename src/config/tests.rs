use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config> {
    Config::from_toml(text, Path::new("my.toml"))
}

const MINIMAL: &str = "[run]\nname = \"t\"\n[model]\nsource = \"m.gguf\"\n";

#[test]
fn embedded_default_parses() {
    let c = Config::from_toml(DEFAULT_TOML, Path::new("configs/default.toml")).unwrap();
    assert_eq!(c.model.dtype, DTypeName::F32);
    assert_eq!(c.model.device, "cpu");
}

#[test]
fn defaults_fill_in_and_resolved_round_trips() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.lora.r, 8);
    assert_eq!(c.lora.targets.len(), 7);
    assert_eq!(c.run.output_dir, "runs");
    let back = parse(&c.to_toml()).unwrap();
    assert_eq!(c, back);
    let dir = tempfile::tempdir().unwrap();
    let p = c.write_resolved(dir.path()).unwrap();
    assert_eq!(Config::load(&p).unwrap(), c);
}

#[test]
fn unknown_key_is_named_with_file() {
    let e = parse(&format!("{MINIMAL}[lora]\nrank = 4\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("my.toml") && e.contains("rank") && e.contains("alpha"),
        "{e}"
    );
    let e = parse(&format!("{MINIMAL}[sampling]\nx = 1\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("sampling"), "{e}");
}

#[test]
fn bad_enum_lists_allowed_values() {
    let e = parse("[run]\nname = \"t\"\n[model]\nsource = \"m\"\ndtype = \"f8\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("f8") && e.contains("bf16") && e.contains("f16"),
        "{e}"
    );
    let e = parse(&format!("{MINIMAL}[lora]\ntargets = [\"qkv\"]\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("qkv") && e.contains("q_proj"), "{e}");
}

#[test]
fn ranges_are_checked() {
    for (extra, key) in [
        ("[lora]\nr = 0\n", "lora.r"),
        ("[lora]\nr = 100000\n", "lora.r"),
        ("[generation]\ntop_p = 1.5\n", "generation.top_p"),
        (
            "[generation]\ntemperature = -1.0\n",
            "generation.temperature",
        ),
        (
            "[lora]\ntargets = [\"q_proj\", \"q_proj\"]\n",
            "lora.targets",
        ),
        (
            "[loop]\nrepair_learning_rate = 2.0\n",
            "loop.repair_learning_rate",
        ),
        ("[loop]\npolicy_episodes = 0\n", "loop.policy_episodes"),
    ] {
        let e = parse(&format!("{MINIMAL}{extra}")).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains("my.toml"), "{e}");
    }
    let e = parse("[run]\nname = \"../x\"\n[model]\nsource = \"m\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("run.name"), "{e}");
    let e = parse("[run]\nname = \"x\"\n[model]\nsource = \"m\"\ndevice = \"gpu\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.device") && e.contains("cuda:N"), "{e}");
}
