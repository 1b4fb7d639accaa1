//! Logs for Lambda, set up the way Lambda's advanced logging controls
//! expect, with a filter that needs no regex engine (it keeps the binary
//! small: the runtime's default subscriber brings one).

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Logs for Lambda: level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON
/// when the function's log format is JSON, to stderr (stdout carries the
/// EMF metrics), with the `log` crate's records (librdkafka's) among them.
/// Record payloads are never logged. Does nothing when the program
/// installed a subscriber of its own.
///
/// `RUST_LOG` takes `target=level` directives separated by commas
/// (`info,msk_dlq=debug`); span and field filters are not supported. A
/// level set in the function's logging configuration
/// (`AWS_LAMBDA_LOG_LEVEL`) is the default for every other target.
pub fn init_tracing() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, rejected) = log_filter(lambda_level.as_deref(), rust_log.as_deref());
    let missing = compiled_out(&filter, tracing::level_filters::STATIC_MAX_LEVEL);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(std::io::stderr);
    let installed = if json {
        tracing_subscriber::registry()
            .with(layer.json().with_filter(filter))
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init()
    };
    if installed.is_ok() {
        for setting in rejected {
            tracing::warn!("{setting}; ignored");
        }
        if let Some(missing) = missing {
            tracing::warn!("{missing}");
        }
    }
}

/// Says so when the filter asks for events more detailed than the build
/// keeps: the functions' release builds compile TRACE events out.
fn compiled_out(filter: &Targets, compiled: LevelFilter) -> Option<String> {
    let asked = filter
        .iter()
        .map(|(_, level)| level)
        .chain(filter.default_level())
        .max()?;
    (asked > compiled).then(|| {
        format!("the log level {asked} is more detailed than this build keeps ({compiled})")
    })
}

/// The filter for a function's `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`, and
/// why each setting that was ignored was.
fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> (Targets, Vec<String>) {
    let mut rejected = Vec::new();
    let mut targets = match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => Targets::new(),
        Some(directives) => directives.parse::<Targets>().unwrap_or_else(|e| {
            rejected.push(format!(
                "RUST_LOG={directives:?} is not a list of target=level directives ({e})"
            ));
            Targets::new()
        }),
    };
    let lambda = lambda_level
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|level| {
            let filter = lambda_level_filter(level);
            if filter.is_none() {
                rejected.push(format!(
                    "AWS_LAMBDA_LOG_LEVEL={level:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"
                ));
            }
            filter
        });
    // The function's log level wins; INFO when nothing sets a default.
    match lambda {
        Some(level) => targets = targets.with_default(level),
        None if targets.default_level().is_none() => {
            targets = targets.with_default(LevelFilter::INFO)
        }
        None => {}
    }
    (targets, rejected)
}

/// Lambda's log levels; FATAL is ERROR here, `tracing` has nothing above it.
fn lambda_level_filter(level: &str) -> Option<LevelFilter> {
    if level.eq_ignore_ascii_case("fatal") {
        return Some(LevelFilter::ERROR);
    }
    level.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn a_level_the_build_compiled_out_is_named() {
        let (filter, _) = log_filter(Some("TRACE"), None);
        let note = compiled_out(&filter, LevelFilter::DEBUG).unwrap_or_default();
        assert!(note.contains("trace") && note.contains("debug"), "{note}");
        let (filter, _) = log_filter(None, Some("info,msk_dlq=trace"));
        assert!(compiled_out(&filter, LevelFilter::DEBUG).is_some());
        let (filter, _) = log_filter(Some("DEBUG"), None);
        assert_eq!(compiled_out(&filter, LevelFilter::DEBUG), None);
        assert_eq!(compiled_out(&filter, LevelFilter::TRACE), None);
    }

    #[test]
    fn info_when_nothing_is_set() {
        let (filter, rejected) = log_filter(None, None);
        assert!(rejected.is_empty());
        assert!(enabled(&filter, "msk_dlq", Level::INFO));
        assert!(!enabled(&filter, "msk_dlq", Level::DEBUG));
    }

    #[test]
    fn rust_log_directives_apply_per_target() {
        let (filter, rejected) = log_filter(None, Some("warn,msk_dlq=debug"));
        assert!(rejected.is_empty());
        assert!(enabled(&filter, "msk_dlq::sink", Level::DEBUG));
        assert!(!enabled(&filter, "hyper", Level::INFO));
        assert!(enabled(&filter, "hyper", Level::WARN));
    }

    #[test]
    fn the_lambda_level_is_the_default_and_rust_log_targets_stay() {
        let (filter, rejected) = log_filter(Some("ERROR"), Some("info,msk_dlq=trace"));
        assert!(rejected.is_empty());
        assert!(!enabled(&filter, "hyper", Level::WARN));
        assert!(enabled(&filter, "msk_dlq", Level::TRACE));
        let (filter, _) = log_filter(Some("fatal"), None);
        assert!(enabled(&filter, "x", Level::ERROR));
        assert!(!enabled(&filter, "x", Level::WARN));
    }

    #[test]
    fn bad_settings_are_named_and_ignored() {
        let (filter, rejected) = log_filter(Some("LOUD"), None);
        assert_eq!(rejected.len(), 1);
        assert!(rejected[0].contains("AWS_LAMBDA_LOG_LEVEL=\"LOUD\""));
        assert!(enabled(&filter, "x", Level::INFO));
        let (filter, rejected) = log_filter(None, Some("msk_dlq=chatty"));
        assert_eq!(rejected.len(), 1);
        assert!(rejected[0].contains("RUST_LOG=\"msk_dlq=chatty\""));
        assert!(enabled(&filter, "x", Level::INFO));
        assert!(!enabled(&filter, "x", Level::DEBUG));
        let (_, rejected) = log_filter(Some("LOUD"), Some("msk_dlq=chatty"));
        assert_eq!(rejected.len(), 2, "both settings are named: {rejected:?}");
    }

    #[test]
    fn records_of_the_log_crate_reach_the_logs() {
        // librdkafka's messages come through `log`: without the bridge they
        // would be dropped. (nextest runs each test in its own process.)
        if tracing::dispatcher::has_been_set() {
            return;
        }
        init_tracing();
        assert!(log::log_enabled!(target: "librdkafka", log::Level::Warn));
    }
}
