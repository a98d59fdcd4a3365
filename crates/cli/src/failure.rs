//! A command's failure: one line saying what failed and what to do, and the
//! exit status it ends with (documented in the crate's README).

use std::fmt;

use eventblocks_core::Error;

/// Exit status: the operation failed (the store is unreachable, a database
/// error).
pub(crate) const FAILED: u8 = 1;
/// Exit status: bad usage or bad input (arguments, the store's address, a
/// malformed line); nothing was written.
pub(crate) const USAGE: u8 = 2;
/// Exit status: `append`'s condition did not hold; nothing was written.
pub(crate) const UNMET: u8 = 3;
/// Exit status: `health` found the read horizon stalled beyond the threshold.
pub(crate) const STALLED: u8 = 4;

#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    pub(crate) code: u8,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: USAGE,
        }
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: FAILED,
        }
    }

    /// The same failure, ending with `code`.
    pub(crate) fn with_code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// `error` from the store while doing `what`, with a hint when one helps.
    pub(crate) fn store(what: &str, error: &Error) -> Self {
        let detail = one_line(&error.to_string());
        let (code, hint) = match error {
            Error::InvalidInput { .. } => (USAGE, ""),
            Error::UnmetCondition { .. } => (UNMET, "; nothing was written"),
            Error::Unavailable { .. } | Error::Timeout { .. } => {
                (FAILED, "; check that the store is running and reachable")
            }
            _ if detail.contains("does not exist") || detail.contains("no such table") => (
                FAILED,
                "; run `eventblocks migrate` against this store first",
            ),
            _ => (FAILED, ""),
        };
        Self {
            message: format!("{what} failed: {detail}{hint}"),
            code,
        }
    }
}

/// The store's errors may span lines (a database's detail); the command
/// prints one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `?` on a store call inside a command: `.or_fail("listing streams")?`.
pub(crate) trait OrFail<T> {
    fn or_fail(self, what: &str) -> Result<T, Failure>;
}

impl<T> OrFail<T> for Result<T, Error> {
    fn or_fail(self, what: &str) -> Result<T, Failure> {
        self.map_err(|error| Failure::store(what, &error))
    }
}
