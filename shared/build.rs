//! Embeds the flow catalog (`flows/*.yaml`) into the crate, so every function carries the same
//! definitions and a deployment cannot lose one; and each file parsed here (YAML to JSON, with
//! the places and written texts `src/catalog/definition/yaml.rs` keeps), so the functions read the
//! catalog without a YAML parser. A syntax error is embedded as such: the catalog reports it
//! when it is built, as it would from the YAML (and `make check` names it first).

#[allow(dead_code)]
#[path = "src/catalog/definition/yaml.rs"]
mod yaml;

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
    let parsed_paths = entries.clone();
    for path in entries {
        println!("cargo::rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(
        "/// Each file of `EMBEDDED` parsed by build.rs: its `Source` as JSON, or the YAML syntax\n/// error's message and place.\n#[allow(clippy::type_complexity)]\npub static PARSED: &[Result<&str, (&str, Option<(u64, u64)>)>] = &[\n",
    );
    for path in &parsed_paths {
        let yaml = fs::read_to_string(path).expect("readable flow definition");
        match yaml::Source::parse(&yaml) {
            Ok(source) => code.push_str(&format!("    Ok({:?}),\n", source.to_json())),
            Err(e) => code.push_str(&format!("    Err(({:?}, {:?})),\n", e.message, e.at)),
        }
    }
    code.push_str("];\n");
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("catalog.rs"), code).unwrap();
}
