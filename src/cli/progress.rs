//! Renders pull and push progress as docker does: a bar per layer on a
//! terminal, one line per state change otherwise, nothing with `-q`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runtime::registry::{LayerStatus, Progress};

pub enum Renderer {
    Quiet,
    Lines(Mutex<()>),
    /// Plain lines on stderr: pulls that `run` makes on the way.
    StderrLines(Mutex<()>),
    Bars(Bars),
}

pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Renderer {
    pub fn to_stderr() -> Renderer {
        Renderer::StderrLines(Mutex::new(()))
    }

    /// Bars when stdout is a terminal, plain lines otherwise.
    pub fn new(quiet: bool) -> Renderer {
        if quiet {
            Renderer::Quiet
        } else if std::io::stdout().is_terminal() {
            Renderer::Bars(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: Mutex::new(HashMap::new()),
            })
        } else {
            Renderer::Lines(Mutex::new(()))
        }
    }
}

fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn eprint_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

impl Progress for Renderer {
    fn line(&self, text: &str) {
        match self {
            Renderer::Quiet => {}
            Renderer::Lines(lock) => {
                let _guard = lock.lock();
                print_line(text);
            }
            Renderer::StderrLines(lock) => {
                let _guard = lock.lock();
                eprint_line(text);
            }
            Renderer::Bars(b) => {
                let _ = b.multi.println(text);
            }
        }
    }

    fn layer(&self, id: &str, status: LayerStatus, total: u64) {
        match self {
            Renderer::Quiet => {}
            Renderer::Lines(lock) | Renderer::StderrLines(lock) => {
                // Byte-level states only make sense with a bar.
                if matches!(
                    status,
                    LayerStatus::Downloading | LayerStatus::Pushing | LayerStatus::Extracting
                ) {
                    return;
                }
                let _guard = lock.lock();
                let line = format!("{id}: {}", status.text());
                if matches!(self, Renderer::Lines(_)) {
                    print_line(&line);
                } else {
                    eprint_line(&line);
                }
            }
            Renderer::Bars(b) => b.update(id, &status, total),
        }
    }

    fn bytes(&self, id: &str, done: u64) {
        if let Renderer::Bars(b) = self
            && let Ok(bars) = b.bars.lock()
            && let Some(bar) = bars.get(id)
        {
            bar.set_position(done);
        }
    }
}

impl Bars {
    fn update(&self, id: &str, status: &LayerStatus, total: u64) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(id.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(total));
            bar.set_prefix(id.to_string());
            bar.set_style(text_style());
            bar
        });
        let moving = matches!(status, LayerStatus::Downloading | LayerStatus::Pushing);
        bar.set_style(if moving { bar_style() } else { text_style() });
        bar.set_message(status.text());
        if status.is_final() {
            bar.finish();
        } else {
            bar.tick();
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg} [{bar:50}] {bytes}/{total_bytes}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn text_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}
