//! The runtime API a function is measured through: the lean server or the
//! project's Lambda emulator, and the check of each answer.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use bytes::Bytes;
use serde_json::Value;

use crate::server;

/// Checks one response body: a JSON object, and (unless allowed) with no
/// batchItemFailures.
fn check_response(body: &[u8], allow_failures: bool) -> anyhow::Result<()> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        anyhow!(
            "response is not JSON ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(500)])
        )
    })?;
    let Some(obj) = v.as_object() else {
        bail!(
            "response is not a JSON object: {}",
            truncate(&v.to_string())
        );
    };
    if !allow_failures {
        if let Some(f) = obj.get("batchItemFailures").and_then(Value::as_array) {
            if !f.is_empty() {
                bail!(
                    "the function reported {} batchItemFailures (first: {}); pass --allow-failures to measure anyway",
                    f.len(),
                    f[0]
                );
            }
        }
    }
    Ok(())
}

pub(crate) fn truncate(s: &str) -> String {
    if s.len() > 500 {
        let mut end = 500;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_owned()
    }
}

pub(crate) enum Backend {
    Lean(server::LeanApi),
    Emulator(lambda_emulator::RuntimeApi),
}

pub(crate) type InitErrorFuture = Pin<Box<dyn Future<Output = String>>>;
pub(crate) type InvokeFuture = Pin<Box<dyn Future<Output = anyhow::Result<Duration>>>>;

impl Backend {
    pub(crate) fn endpoint(&self) -> String {
        match self {
            Backend::Lean(a) => a.endpoint(),
            Backend::Emulator(a) => a.endpoint(),
        }
    }

    pub(crate) fn init_error(&self) -> InitErrorFuture {
        match self {
            Backend::Lean(a) => {
                let mut rx = a.init_errors();
                Box::pin(async move {
                    loop {
                        if rx.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                        if let Some(s) = rx.borrow().clone() {
                            return s;
                        }
                    }
                })
            }
            Backend::Emulator(a) => {
                let rx = a.init_error();
                Box::pin(async move {
                    match rx.await {
                        Ok(lambda_emulator::Reply::InitError(s)) => s,
                        Ok(other) => format!("{other:?}"),
                        Err(_) => std::future::pending().await,
                    }
                })
            }
        }
    }

    /// Starts one invocation; the future gives its measured time once the
    /// response was received and checked.
    pub(crate) fn invoke(
        &mut self,
        event: &Bytes,
        event_str: &str,
        timeout: Duration,
        allow_failures: bool,
    ) -> InvokeFuture {
        match self {
            Backend::Lean(a) => {
                let rx = a.invoke(event.clone(), timeout);
                Box::pin(async move {
                    let o = rx
                        .await
                        .map_err(|_| anyhow!("runtime API dropped the invocation"))?;
                    match o.answer {
                        server::Answer::Response(body) => {
                            check_response(&body, allow_failures)?;
                            Ok(o.received.duration_since(o.handed_out))
                        }
                        server::Answer::Error(body, ty) => bail!(
                            "the function answered /invocation/{{id}}/error (Lambda-Runtime-Function-Error-Type: {}): {}",
                            if ty.is_empty() { "not set" } else { ty.as_str() },
                            truncate(&String::from_utf8_lossy(&body))
                        ),
                    }
                })
            }
            Backend::Emulator(a) => {
                let t0 = Instant::now();
                let rx = a.enqueue(event_str, timeout);
                Box::pin(async move {
                    let r = rx
                        .await
                        .map_err(|_| anyhow!("runtime API dropped the invocation"))?;
                    let t1 = Instant::now();
                    match r {
                        lambda_emulator::Reply::Response(body) => {
                            check_response(body.as_bytes(), allow_failures)?;
                            Ok(t1 - t0)
                        }
                        other => bail!("the function did not answer: {other:?}"),
                    }
                })
            }
        }
    }

    pub(crate) fn first_next(&self) -> Option<Instant> {
        match self {
            Backend::Lean(a) => a.first_next(),
            Backend::Emulator(_) => None,
        }
    }
}
