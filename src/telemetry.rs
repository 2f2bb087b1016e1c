//! Logging setup: human lines by default, JSON on request; `RUST_LOG` filters.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stdout; a second call (tests) is a no-op.
pub fn init(format: LogFormat) {
    init_with(format, false);
}

/// Like [`init`], writing to stderr when `to_stderr` (commands whose stdout is their output).
pub fn init_with(format: LogFormat, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let writer = if to_stderr {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        BoxMakeWriter::new(std::io::stdout)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
