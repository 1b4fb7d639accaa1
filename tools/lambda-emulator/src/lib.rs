//! A local AWS Lambda Runtime API (the `2018-06-01` interface a custom
//! runtime polls), enough to run a real function binary and invoke it the
//! way Lambda does: one event at a time, with a deadline and a request id.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

const PREFIX: &str = "/2018-06-01/runtime";

/// What a function answered to one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Response(String),
    Error {
        error_type: String,
        message: String,
    },
    InitError(String),
    /// The process exited before answering.
    Exited(String),
    TimedOut,
}

struct Pending {
    id: String,
    body: String,
    deadline_ms: u64,
    reply: oneshot::Sender<Reply>,
}

struct Shared {
    /// Set when the runtime first asks for an invocation: it is initialised.
    ready: tokio::sync::watch::Sender<bool>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    init_error: Mutex<Option<oneshot::Sender<Reply>>>,
    function_arn: String,
}

/// The Runtime API server, on a loopback port.
pub struct RuntimeApi {
    addr: SocketAddr,
    tx: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
    counter: AtomicU64,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(function_name: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready, _) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            ready,
            queue: tokio::sync::Mutex::new(rx),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function_name}"),
        });
        let server_shared = shared.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = server_shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| route(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            tx,
            shared,
            counter: AtomicU64::new(0),
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event; resolves when the function answers.
    pub fn enqueue(&self, event: &str, timeout: Duration) -> oneshot::Receiver<Reply> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let (reply, rx) = oneshot::channel();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let _ = self.tx.send(Pending {
            id: format!("00000000-0000-4000-8000-{n:012}"),
            body: event.to_owned(),
            deadline_ms: u64::try_from((now + timeout).as_millis()).unwrap_or(u64::MAX),
            reply,
        });
        rx
    }

    /// Whether the runtime has asked for its first invocation.
    pub fn ready(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.ready.subscribe()
    }

    /// Resolves when the function reports an init error.
    pub fn init_error(&self) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut slot) = self.shared.init_error.lock() {
            *slot = Some(tx);
        }
        rx
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn route(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let resp = match (method, rest) {
        (Method::GET, "/invocation/next") => {
            shared.ready.send_replace(true);
            let next = shared.queue.lock().await.recv().await;
            match next {
                Some(p) => {
                    if let Ok(mut w) = shared.waiting.lock() {
                        w.insert(p.id.clone(), p.reply);
                    }
                    Response::builder()
                        .header("Lambda-Runtime-Aws-Request-Id", &p.id)
                        .header("Lambda-Runtime-Deadline-Ms", p.deadline_ms.to_string())
                        .header("Lambda-Runtime-Invoked-Function-Arn", &shared.function_arn)
                        .header(
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000;Sampled=0",
                        )
                        .header("Content-Type", "application/json")
                        .body(Full::new(Bytes::from(p.body)))
                }
                None => Response::builder()
                    .status(StatusCode::GONE)
                    .body(Full::default()),
            }
        }
        (Method::POST, "/init/error") => {
            if let Some(tx) = shared.init_error.lock().ok().and_then(|mut s| s.take()) {
                let _ = tx.send(Reply::InitError(body));
            }
            accepted()
        }
        (Method::POST, r) if r.starts_with("/invocation/") => {
            let mut parts = r.trim_start_matches("/invocation/").splitn(2, '/');
            let id = parts.next().unwrap_or("");
            let kind = parts.next().unwrap_or("");
            let sender = shared.waiting.lock().ok().and_then(|mut w| w.remove(id));
            match (sender, kind) {
                (Some(tx), "response") => {
                    let _ = tx.send(Reply::Response(body));
                    accepted()
                }
                (Some(tx), "error") => {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    let _ = tx.send(Reply::Error {
                        error_type: v["errorType"].as_str().unwrap_or("").to_owned(),
                        message: v["errorMessage"].as_str().unwrap_or(&body).to_owned(),
                    });
                    accepted()
                }
                _ => Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(Full::default()),
            }
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::default()),
    };
    Ok(resp.unwrap_or_else(|_| Response::new(Full::default())))
}

fn accepted() -> Result<Response<Full<Bytes>>, hyper::http::Error> {
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")))
}

/// A function process attached to its own Runtime API.
pub struct Function {
    api: RuntimeApi,
    child: tokio::process::Child,
    stdout: Lines,
    stderr: Lines,
    exited: Option<ExitStatus>,
}

impl Function {
    /// Starts `binary` with `env` (plus the Lambda variables a runtime reads).
    /// With `echo`, the function's output is also copied to this process's.
    pub async fn start(
        binary: &Path,
        function_name: &str,
        env: &[(String, String)],
        echo: bool,
    ) -> anyhow::Result<Self> {
        let api = RuntimeApi::start(function_name).await?;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            )
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start function binary {}", binary.display()))?;
        let stdout: Lines = Arc::default();
        let stderr: Lines = Arc::default();
        if let Some(out) = child.stdout.take() {
            collect_lines(out, stdout.clone(), None, echo, false);
        }
        if let Some(err) = child.stderr.take() {
            collect_lines(err, stderr.clone(), None, echo, true);
        }
        Ok(Self {
            api,
            child,
            stdout,
            stderr,
            exited: None,
        })
    }

    /// Waits until the function's runtime asks for its first invocation (its
    /// init is done); an error says why it did not get there: it exited,
    /// reported an init error, or took longer than `timeout`.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let mut ready = self.api.ready();
        let init_error = self.api.init_error();
        tokio::select! {
            r = ready.wait_for(|r| *r) => r.map(drop).map_err(|_| anyhow!("runtime API stopped")),
            r = init_error => match r {
                Ok(Reply::InitError(e)) => Err(anyhow!("init error: {e}")),
                _ => Err(anyhow!("runtime API dropped the init error")),
            },
            status = self.child.wait() => {
                let status = status?;
                self.exited = Some(status);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(anyhow!("exited ({status}) before its first invocation: {}", self.stderr_lines().join("\n")))
            }
            _ = tokio::time::sleep(timeout) => Err(anyhow!("did not ask for an invocation within {timeout:?}")),
        }
    }

    /// Invokes the function with `event` and a `timeout` (its deadline).
    pub async fn invoke(&mut self, event: &str, timeout: Duration) -> anyhow::Result<Reply> {
        if let Some(status) = self.exited {
            return Ok(Reply::Exited(format!("function had exited: {status}")));
        }
        let reply = self.api.enqueue(event, timeout);
        let init_error = self.api.init_error();
        // Lambda stops a function at its deadline; allow a little slack for
        // process scheduling before calling it a time-out.
        let limit = timeout + Duration::from_secs(2);
        tokio::select! {
            r = reply => r.map_err(|_| anyhow!("runtime API dropped the invocation")),
            r = init_error => r.map_err(|_| anyhow!("runtime API dropped the init error")),
            status = self.child.wait() => {
                let status = status?;
                self.exited = Some(status);
                // Let the output readers drain what the process wrote last.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(Reply::Exited(format!("{status}; stderr: {}", self.stderr_lines().join("\n"))))
            }
            _ = tokio::time::sleep(limit) => Ok(Reply::TimedOut),
        }
    }

    /// The function process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Lines a process wrote, kept in memory.
pub type Lines = Arc<Mutex<std::collections::VecDeque<String>>>;

/// Copies `reader`'s lines into `sink` (only the newest `keep` when
/// bounded), echoing them to stdout or stderr when asked.
pub fn collect_lines<R>(reader: R, sink: Lines, keep: Option<usize>, echo: bool, to_stderr: bool)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if echo {
                if to_stderr {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
            if let Ok(mut s) = sink.lock() {
                if keep.is_some_and(|k| s.len() >= k) {
                    s.pop_front();
                }
                s.push_back(line);
            }
        }
    });
}
