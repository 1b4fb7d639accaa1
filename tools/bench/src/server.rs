//! A lean Lambda Runtime API (`2018-06-01`) that records, for each
//! invocation, the instant the event was handed out on `/invocation/next`
//! and the instant its `/response` (or `/error`) body was fully received,
//! plus the instant of the first `/invocation/next` (end of init).
//!
//! Same routes and headers as `lambda_emulator::RuntimeApi`; the event is
//! held as `Bytes`, so handing out a 6 MB event copies nothing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

const PREFIX: &str = "/2018-06-01/runtime";
const TRACE_ID: &str = "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0";

pub enum Answer {
    Response(Bytes),
    /// `/invocation/{id}/error`: the body and the `Lambda-Runtime-Function-Error-Type` header.
    Error(Bytes, String),
}

pub struct Outcome {
    pub answer: Answer,
    pub handed_out: Instant,
    pub received: Instant,
}

struct Job {
    id: String,
    body: Bytes,
    timeout: Duration,
    done: oneshot::Sender<Outcome>,
}

struct State {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>,
    inflight: Mutex<HashMap<String, (Instant, oneshot::Sender<Outcome>)>>,
    first_next: OnceLock<Instant>,
    init_error: watch::Sender<Option<String>>,
    arn: String,
}

pub struct LeanApi {
    addr: SocketAddr,
    tx: mpsc::UnboundedSender<Job>,
    state: Arc<State>,
    counter: u64,
    server: tokio::task::JoinHandle<()>,
}

impl LeanApi {
    pub async fn start(function_name: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (init_error, _) = watch::channel(None);
        let state = Arc::new(State {
            queue: tokio::sync::Mutex::new(rx),
            inflight: Mutex::new(HashMap::new()),
            first_next: OnceLock::new(),
            init_error,
            arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function_name}"),
        });
        let st = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Lambda's own Runtime API (Go net/http) sets TCP_NODELAY too.
                let _ = stream.set_nodelay(true);
                let st = st.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| route(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            tx,
            state,
            counter: 0,
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first called `/invocation/next`.
    pub fn first_next(&self) -> Option<Instant> {
        self.state.first_next.get().copied()
    }

    pub fn init_errors(&self) -> watch::Receiver<Option<String>> {
        self.state.init_error.subscribe()
    }

    /// Queues one invocation; resolves when the function answers it.
    pub fn invoke(&mut self, body: Bytes, timeout: Duration) -> oneshot::Receiver<Outcome> {
        self.counter += 1;
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Job {
            id: format!("8f5a0c9e-0000-4000-8000-{:012}", self.counter),
            body,
            timeout,
            done,
        });
        rx
    }
}

impl Drop for LeanApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn route(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let rest = path.strip_prefix(PREFIX).unwrap_or("").to_owned();
    let method = req.method().clone();

    if method == Method::GET && rest == "/invocation/next" {
        let _ = state.first_next.get_or_init(Instant::now);
        drop(req);
        let job = state.queue.lock().await.recv().await;
        let Some(job) = job else {
            return Ok(plain(StatusCode::GONE, "{}"));
        };
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let deadline_ms = (wall + job.timeout).as_millis().to_string();
        let resp = Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "application/json")
            .header("Lambda-Runtime-Aws-Request-Id", &job.id)
            .header("Lambda-Runtime-Deadline-Ms", deadline_ms)
            .header("Lambda-Runtime-Invoked-Function-Arn", &state.arn)
            .header("Lambda-Runtime-Trace-Id", TRACE_ID)
            .body(Full::new(job.body))
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "{}"));
        let handed_out = Instant::now();
        if let Ok(mut w) = state.inflight.lock() {
            w.insert(job.id, (handed_out, job.done));
        }
        return Ok(resp);
    }

    if method != Method::POST {
        return Ok(plain(StatusCode::NOT_FOUND, "{\"errorType\":\"NotFound\"}"));
    }
    let error_type = req
        .headers()
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let received = Instant::now();

    if rest == "/init/error" {
        let _ = state.init_error.send(Some(format!(
            "{error_type} {}",
            String::from_utf8_lossy(&body)
        )));
        return Ok(plain(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"));
    }
    if let Some(r) = rest.strip_prefix("/invocation/") {
        let (id, kind) = r.split_once('/').unwrap_or((r, ""));
        if kind != "response" && kind != "error" {
            return Ok(plain(StatusCode::NOT_FOUND, "{\"errorType\":\"NotFound\"}"));
        }
        let entry = state.inflight.lock().ok().and_then(|mut w| w.remove(id));
        let Some((handed_out, done)) = entry else {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}",
            ));
        };
        let answer = if kind == "response" {
            Answer::Response(body)
        } else {
            Answer::Error(body, error_type)
        };
        let _ = done.send(Outcome {
            answer,
            handed_out,
            received,
        });
        return Ok(plain(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"));
    }
    Ok(plain(StatusCode::NOT_FOUND, "{\"errorType\":\"NotFound\"}"))
}
