//! Output: a readable table when standard output is a terminal, JSON lines
//! when it is piped, unless `--json` or `--table` says otherwise.

use std::io::{IsTerminal, Write};

use eventblocks_core::StoredEvent;
use serde::Serialize;

use crate::failure::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
}

impl Format {
    pub(crate) fn choose(json: bool, table: bool) -> Self {
        if json {
            Self::Json
        } else if table || std::io::stdout().is_terminal() {
            Self::Table
        } else {
            Self::Json
        }
    }
}

/// Writes lines to standard output; a closed pipe (`| head`) ends the
/// command quietly.
pub(crate) struct Out {
    stdout: std::io::BufWriter<std::io::Stdout>,
}

impl Out {
    pub(crate) fn new() -> Self {
        Self {
            stdout: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    pub(crate) fn line(&mut self, text: &str) -> Result<(), Failure> {
        writeln!(self.stdout, "{text}").map_err(write_failed)
    }

    pub(crate) fn json(&mut self, value: &impl Serialize) -> Result<(), Failure> {
        let text = serde_json::to_string(value)
            .map_err(|error| Failure::failed(format!("encoding JSON failed: {error}")))?;
        self.line(&text)
    }

    pub(crate) fn flush(&mut self) -> Result<(), Failure> {
        self.stdout.flush().map_err(write_failed)
    }
}

/// A line on standard error; a closed standard error is no reason to fail
/// (nor to panic, as `eprintln!` would).
pub(crate) fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn write_failed(error: std::io::Error) -> Failure {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Failure::failed(format!("writing to standard output failed: {error}"))
}

/// Rows under a header, each column as wide as its widest cell.
pub(crate) fn table(out: &mut Out, header: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    if header.iter().any(|cell| !cell.is_empty()) {
        out.line(&render(header.to_vec()))?;
    }
    for row in rows {
        out.line(&render(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// The table columns of an event.
pub(crate) const EVENT_HEADER: &[&str] = &[
    "SEQUENCE",
    "STREAM",
    "POSITION",
    "NAME",
    "OBSERVED AT",
    "PAYLOAD",
];

/// An event as a table row, its payload cut to fit a line.
pub(crate) fn event_row(event: &StoredEvent) -> Vec<String> {
    let payload = event.payload.as_str();
    let payload = match payload.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &payload[..cut]),
        None => payload.to_owned(),
    };
    vec![
        event.sequence_number.to_string(),
        event.stream.to_string(),
        event.position.to_string(),
        event.name.to_string(),
        event
            .observed_at
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string(),
        payload,
    ]
}

/// Prints events as they come: JSON lines, or table rows under one header
/// (widths fixed by the header, so rows print without waiting for the rest).
pub(crate) struct EventPrinter {
    out: Out,
    format: Format,
    header_done: bool,
}

impl EventPrinter {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            out: Out::new(),
            format,
            header_done: false,
        }
    }

    pub(crate) fn print(&mut self, event: &StoredEvent) -> Result<(), Failure> {
        match self.format {
            Format::Json => self.out.json(event),
            Format::Table => {
                if !self.header_done {
                    self.header_done = true;
                    self.out.line(&stream_line(
                        EVENT_HEADER.iter().map(|h| (*h).to_owned()).collect(),
                    ))?;
                }
                self.out.line(&stream_line(event_row(event)))
            }
        }
    }

    pub(crate) fn flush(&mut self) -> Result<(), Failure> {
        self.out.flush()
    }
}

fn stream_line(cells: Vec<String>) -> String {
    const WIDTHS: [usize; 5] = [10, 28, 8, 24, 23];
    let mut line = String::new();
    for (index, cell) in cells.iter().enumerate() {
        match WIDTHS.get(index) {
            Some(width) => line.push_str(&format!("{cell:<width$}  ")),
            None => line.push_str(cell),
        }
    }
    line.trim_end().to_owned()
}
