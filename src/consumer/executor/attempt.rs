//! One handler call: bounded by the attempt time-out and the invocation's
//! cutoff, with panics caught and turned into permanent failures.

use std::panic::AssertUnwindSafe;
use std::task::Poll;

use futures::FutureExt as _;

use super::Executor;
use crate::consumer::handler::{HandlerError, RecordContext, RecordHandler};
use crate::consumer::policy::{AttemptResult, RecordFacts};
use crate::record::KafkaRecord;

impl<H: RecordHandler> Executor<H> {
    /// One handler call, bounded by the attempt time-out and the cutoff,
    /// with panics caught. The error is boxed: the common success moves
    /// less.
    pub(super) async fn attempt(
        &self,
        record: &KafkaRecord,
        ctx: &mut RecordContext,
        facts: &RecordFacts,
    ) -> (AttemptResult, Option<Box<HandlerError>>) {
        let end = match self.settings.attempt_timeout {
            Some(t) => facts.cutoff.min(facts.now + t),
            None => facts.cutoff,
        };
        ctx.attempt = facts.attempts;
        ctx.deadline = end;
        let ctx = &*ctx;
        // The call itself inside the guard: a handler may panic before it
        // returns its future.
        let mut call =
            std::pin::pin!(
                AssertUnwindSafe(async { self.handler.handle(record, ctx).await }).catch_unwind()
            );
        // Most handlers finish in their first poll: only one that waits
        // gets a timer (the time-out could not cut a first poll anyway).
        let finished = match futures::poll!(call.as_mut()) {
            Poll::Ready(result) => Ok(result),
            Poll::Pending => tokio::time::timeout_at(end, call).await,
        };
        match finished {
            Ok(Ok(Ok(()))) => (AttemptResult::Succeeded, None),
            Ok(Ok(Err(e))) => (AttemptResult::Failed(e.class), Some(Box::new(e))),
            Ok(Err(panic)) => (
                AttemptResult::Panicked,
                Some(Box::new(HandlerError::permanent(
                    "HandlerPanic",
                    panic_message(panic.as_ref()),
                ))),
            ),
            // Cut by the invocation's cutoff: says nothing about the record.
            Err(_) if end >= facts.cutoff => (AttemptResult::DeadlineCut, None),
            Err(_) => (
                AttemptResult::TimedOut,
                Some(Box::new(HandlerError::transient(
                    "AttemptTimeout",
                    "handler did not finish within its attempt time",
                ))),
            ),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("handler panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("handler panicked: {s}")
    } else {
        "handler panicked".to_owned()
    }
}
