//! Ctrl-C and SIGTERM during a run.
//!
//! The first stops the load: no iteration starts, requests in flight are
//! cancelled at once (recorded as interrupted), and the run goes on to judge and
//! write everything, marked interrupted. A second one runs the last-resort
//! writer (the interval log flushed, a summary marked interrupted written) and
//! exits with 3 at once: whatever was gathered is on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use crate::exit::Exit;

/// What a second signal runs before the process exits.
pub type LastResort = Box<dyn FnOnce() + Send>;

/// The signals of one run.
pub struct Stopper {
    /// Cancelled by the first signal.
    pub stop: crate::context::Signal,
    reason: Mutex<Option<String>>,
    presses: AtomicU32,
    last_resort: Mutex<Option<LastResort>>,
}

impl Stopper {
    /// Listens for Ctrl-C and SIGTERM from now on.
    pub fn spawn() -> Arc<Stopper> {
        let stopper = Arc::new(Stopper {
            stop: crate::context::Signal::new(),
            reason: Mutex::new(None),
            presses: AtomicU32::new(0),
            last_resort: Mutex::new(None),
        });
        let s = stopper.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                #[cfg(unix)]
                let which = tokio::select! {
                    r = tokio::signal::ctrl_c() => if r.is_ok() { "Ctrl-C" } else { return },
                    Some(_) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => "SIGTERM",
                };
                #[cfg(not(unix))]
                let which = match tokio::signal::ctrl_c().await {
                    Ok(()) => "Ctrl-C",
                    Err(_) => return,
                };
                s.signalled(which);
            }
        });
        stopper
    }

    /// One signal arrived.
    fn signalled(&self, which: &str) {
        if self.presses.fetch_add(1, Ordering::SeqCst) == 0 {
            *self.reason.lock() = Some(which.to_string());
            eprintln!(
                "{which}: stopping the load (requests in flight cancelled), then judging and writing the results; again to write what was gathered and exit now"
            );
            self.stop.cancel();
            return;
        }
        eprintln!("{which} again: writing what was gathered, then exiting");
        if let Some(write) = self.last_resort.lock().take() {
            write();
        }
        std::process::exit(i32::from(Exit::Inconclusive.code()));
    }

    /// Why the run stopped early, if a signal stopped it.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().clone()
    }

    /// Sets what a second signal writes (replacing the previous writer).
    pub fn set_last_resort(&self, write: LastResort) {
        *self.last_resort.lock() = Some(write);
    }
}
