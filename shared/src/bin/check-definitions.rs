//! `make check`: checks flow definition files as the catalog will (see
//! `emr_flows::catalog::definition::Definition::check`) and prints every problem of every file at once, as
//! `FILE:LINE:COLUMN: path: message`. Reads the files from disk, so a new definition is checked
//! before anything is rebuilt.
//!
//! Usage: `check-definitions [FILE_OR_DIRECTORY…]` (default: `shared/flows`). Exit status 0
//! when every definition passes, 1 when any has a problem, 2 when a file cannot be read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use emr_flows::catalog::definition::Catalog;

fn main() -> ExitCode {
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let args = if args.is_empty() {
        vec![Path::new(&manifest).join("flows")]
    } else {
        args
    };

    let mut files = Vec::new();
    let mut stray = Vec::new();
    for arg in &args {
        match std::fs::read_dir(arg) {
            Ok(entries) => {
                for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                    match path.extension().and_then(|e| e.to_str()) {
                        Some("yaml") => files.push(path),
                        Some("yml") => stray.push(path),
                        _ => {}
                    }
                }
            }
            Err(_) => files.push(arg.clone()),
        }
    }
    files.sort();

    let mut sources = Vec::new();
    for path in &files {
        match std::fs::read_to_string(path) {
            Ok(text) => sources.push((path.clone(), text)),
            Err(e) => {
                eprintln!("{}: cannot be read: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let named: Vec<(String, &str)> = sources
        .iter()
        .map(|(path, text)| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, text.as_str())
        })
        .collect();
    let pairs: Vec<(&str, &str)> = named.iter().map(|(n, t)| (n.as_str(), *t)).collect();

    let mut count = 0;
    for path in &stray {
        println!(
            "{}: only `.yaml` files are embedded in the catalog; rename it to `.yaml`",
            path.display()
        );
        count += 1;
    }
    if let Err(broken) = Catalog::check(&pairs) {
        for (file, problems) in broken {
            let path = sources
                .iter()
                .map(|(p, _)| p)
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == file))
                .map_or_else(|| file.clone(), |p| p.display().to_string());
            for problem in problems {
                println!("{path}:{problem}");
                count += 1;
            }
        }
    }
    if count == 0 {
        println!("{} flow definitions checked: no problems", files.len());
        ExitCode::SUCCESS
    } else {
        let problems = if count == 1 { "problem" } else { "problems" };
        let definitions = if files.len() == 1 {
            "definition"
        } else {
            "definitions"
        };
        println!("{count} {problems} in {} flow {definitions} checked", files.len());
        ExitCode::FAILURE
    }
}
