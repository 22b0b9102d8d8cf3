//! Embeds the flow catalog (`flows/*.yaml`) into the crate, so every function carries the same
//! definitions and a deployment cannot lose one.

use std::{env, fs, path::Path};

fn main() {
    // Read at run time, not compile time: a build directory copied to another checkout must
    // embed that checkout's flows.
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("flows");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .expect("shared/flows must exist")
        .map(|e| e.expect("readable shared/flows entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    let mut code = String::from(
        "/// `(file name, YAML text)` of every flow definition in `shared/flows/`.\npub static EMBEDDED: &[(&str, &str)] = &[\n",
    );
    for path in entries {
        println!("cargo::rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("catalog.rs"), code).unwrap();
}
