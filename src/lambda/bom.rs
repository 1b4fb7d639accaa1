//! Strips a UTF-8 byte order mark from an invocation's body before the
//! runtime parses it: JSON parsers refuse it, and events saved by hand (or
//! sent by some tools) start with one.

use std::task::{Context, Poll};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The layer; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StripBom;

impl<S> Layer<S> for StripBom {
    type Service = StripBomService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StripBomService(inner)
    }
}

/// [`StripBom`] around a runtime service.
#[derive(Debug, Clone)]
pub(crate) struct StripBomService<S>(S);

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for StripBomService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: LambdaInvocation) -> Self::Future {
        if req.body.starts_with(BOM) {
            req.body = req.body.slice(BOM.len()..);
        }
        self.0.call(req)
    }
}
