//! `loadgen completions SHELL` and `loadgen man`: shell completions (clap_complete)
//! and man pages (clap_mangen), generated from the one command-line definition in
//! [`crate::cli`], so they always match `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit::Exit;

/// `loadgen completions SHELL`: the completion script on standard output.
pub fn completions(shell: Shell) -> Exit {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "loadgen", &mut out);
    write_stdout(&out)
}

/// `loadgen man [--out DIR]`: `loadgen.1` on standard output, or every page
/// (`loadgen.1`, `loadgen-run.1`, ...) written into DIR.
pub fn man(out: Option<&Path>) -> Exit {
    let command = Cli::command();
    let Some(dir) = out else {
        let mut page = Vec::new();
        return match clap_mangen::Man::new(command).render(&mut page) {
            Ok(()) => write_stdout(&page),
            Err(e) => {
                eprintln!("rendering the man page failed: {e}");
                Exit::Usage
            }
        };
    };
    let written =
        std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(command, dir));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote the man pages into {} (man -l {}/loadgen.1)",
                dir.display(),
                dir.display()
            );
            Exit::Pass
        }
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            Exit::Usage
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Exit {
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => Exit::Pass,
        // A closed pipe (`loadgen man | head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Pass,
        Err(e) => {
            eprintln!("writing to standard output failed: {e}");
            Exit::Usage
        }
    }
}
