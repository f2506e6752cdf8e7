//! Recompiles the crate when a migration changes (`embed_migrations!` cannot tell cargo which
//! files it read) and fingerprints the migrations' SQL, so test templates are rebuilt when it
//! changes (and not when only their README does).

use std::fs;
use std::path::{Path, PathBuf};

const MIGRATIONS: &str = "../../migrations";

fn main() {
    println!("cargo:rerun-if-changed={MIGRATIONS}");
    let mut files = Vec::new();
    collect(Path::new(MIGRATIONS), &mut files);
    files.sort();
    // FNV-1a: stable across toolchains and processes, unlike std's hashers.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in &files {
        let relative = path.strip_prefix(MIGRATIONS).unwrap_or(path);
        let contents = fs::read(path).unwrap_or_default();
        for byte in relative.to_string_lossy().bytes().chain([0]).chain(contents).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=ADAPTERS_MIGRATIONS_HASH={hash:016x}");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "sql") {
            files.push(path);
        }
    }
}
