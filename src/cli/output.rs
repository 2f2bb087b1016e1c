//! What commands print: one JSON object per line on stdout, whether a command shows one
//! thing or a list (JSON lines: `jq`, `head` and `grep` work on them as they are).

use std::io::Write;

/// Why a command ended before finishing.
#[derive(Debug)]
pub enum Stop {
    /// A failure, reported as one line on stderr.
    Failed(String),
    /// Whoever read stdout stopped reading (`portcullis clients list | head -1`): not a failure.
    OutputClosed,
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Failed(message)
    }
}

/// Prints `value` as one line of JSON.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Stop> {
    emit(&serde_json::to_string(value).map_err(|e| e.to_string())?)
}

/// Prints each item as one line of JSON.
pub fn print_lines<T: serde::Serialize>(items: &[T]) -> Result<(), Stop> {
    items.iter().try_for_each(print_json)
}

/// Writes one line; a closed pipe ends the command quietly instead of panicking as `println!` would.
pub fn emit(line: &str) -> Result<(), Stop> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Stop::OutputClosed),
        Err(e) => Err(Stop::Failed(format!("writing the output: {e}"))),
    }
}

/// Prints every item of a paged listing as JSON lines, asking for the next page until the
/// last one.
pub async fn print_all_pages<T, F, Fut>(mut fetch: F) -> Result<(), Stop>
where
    T: serde::Serialize,
    F: FnMut(crate::domain::admin::PageRequest) -> Fut,
    Fut: std::future::Future<Output = crate::domain::DomainResult<crate::domain::admin::Page<T>>>,
{
    let mut page = crate::domain::admin::PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let got = fetch(page.clone()).await.map_err(super::describe)?;
        print_lines(&got.items)?;
        match got.next_cursor {
            Some(c) => page.after = Some(c),
            None => return Ok(()),
        }
    }
}
