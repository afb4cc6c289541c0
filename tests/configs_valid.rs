//! Every shipped config parses and validates (`trainer config` prints it resolved).

use std::process::Command;

#[test]
fn shipped_configs_validate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
                .arg("config")
                .arg(&p)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(text.contains("[loop]") && text.contains("[grpo]") && text.contains("[train]"));
            n += 1;
        }
    }
    assert!(n >= 2, "configs/default.toml and configs/qwen32b.toml");
}
