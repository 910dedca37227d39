//! Each fuzz target under bolero: its seeds first, then inputs made from them
//! (see `fuzz::mutate`) for a second, or `BOLERO_RANDOM_ITERATIONS` of them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use fuzz::mutate::Input;
use fuzz::targets::target;

/// The seeds of a target: every file of `fuzz/corpus/<name>/`.
fn seeds(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "{} holds no seed", dir.display());
    seeds
}

fn fuzz(name: &str) {
    let t = target(name).expect("a target of that name");
    let seeds = seeds(name);
    for seed in &seeds {
        (t.run)(seed);
    }
    let inputs = AtomicU64::new(0);
    bolero::check!()
        .with_type::<Input>()
        .for_each(|input: &Input| {
            inputs.fetch_add(1, Ordering::Relaxed);
            (t.run)(&input.bytes(&seeds));
        });
    println!(
        "fuzz target {name}: {} seeds, {} inputs, no panic",
        seeds.len(),
        inputs.load(Ordering::Relaxed)
    );
}

#[test]
fn scenario() {
    fuzz("scenario");
}

#[test]
fn flow() {
    fuzz("flow");
}

#[test]
fn slo_toml() {
    fuzz("slo_toml");
}

#[test]
fn slo_yaml() {
    fuzz("slo_yaml");
}

#[test]
fn exposition() {
    fuzz("exposition");
}

#[test]
fn interval_log() {
    fuzz("interval_log");
}

#[test]
fn histogram() {
    fuzz("histogram");
}

#[test]
fn selector() {
    fuzz("selector");
}

#[test]
fn query() {
    fuzz("query");
}

#[test]
fn duration() {
    fuzz("duration");
}
