//! Hands the invocation body to the consumer as the runtime received it.
//!
//! The runtime would otherwise parse the body into the handler's payload
//! type before the handler sees it; the consumer decodes the body itself
//! (one pass for well-formed events, the exact decoder for the rest), which
//! needs the whole body, not a parser positioned inside it. The layer moves
//! each body into [`Bodies`] under its request id and gives the runtime
//! `null` to parse into `()`; [`BodyConsumer`] takes it back.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{LambdaEvent, LambdaInvocation};

use crate::consumer::{BatchResponse, Consumer, RecordHandler};

use super::consumer::InvocationError;

/// Bodies between the layer and the consumer, by request id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bodies(Arc<Mutex<HashMap<String, Bytes>>>);

impl Bodies {
    fn put(&self, request_id: String, body: Bytes) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id, body);
    }

    fn take(&self, request_id: &str) -> Option<Bytes> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(request_id)
    }
}

/// The layer; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct TakeBody(pub(crate) Bodies);

impl<S> Layer<S> for TakeBody {
    type Service = TakeBodyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TakeBodyService {
            bodies: self.0.clone(),
            inner,
        }
    }
}

/// [`TakeBody`] around a runtime service.
#[derive(Debug, Clone)]
pub(crate) struct TakeBodyService<S> {
    bodies: Bodies,
    inner: S,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for TakeBodyService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: LambdaInvocation) -> Self::Future {
        let body = std::mem::replace(&mut req.body, Bytes::from_static(b"null"));
        self.bodies.put(req.context.request_id.clone(), body);
        self.inner.call(req)
    }
}

/// The consumer, taking each invocation's body from [`Bodies`].
pub(crate) struct BodyConsumer<H> {
    pub(crate) consumer: Consumer<H>,
    pub(crate) bodies: Bodies,
}

impl<H: RecordHandler> Service<LambdaEvent<()>> for BodyConsumer<H> {
    type Response = BatchResponse;
    type Error = InvocationError;
    type Future = Pin<Box<dyn Future<Output = Result<BatchResponse, InvocationError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<()>) -> Self::Future {
        let body = self.bodies.take(&event.context.request_id);
        self.consumer.call_with_body(body, event.context)
    }
}
