//! A fault-injecting TCP proxy in front of a real endpoint (moto's SQS, SNS
//! or S3): passes traffic, resets connections, accepts and stalls, or
//! answers HTTP 503. Changing the fault cuts the connections already open,
//! so pooled keep-alive connections do not dodge it.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    Pass,
    /// Accept and close at once (the endpoint is down).
    Reset,
    /// Accept and never answer (a stalled endpoint).
    Stall,
    /// Answer every request with HTTP 503 (the endpoint refuses).
    Unavailable,
}

pub const ALL_FAULTS: [Fault; 3] = [Fault::Reset, Fault::Stall, Fault::Unavailable];

/// A running proxy; dropped, it stops accepting.
pub struct FaultProxy {
    pub url: String,
    fault: watch::Sender<Fault>,
    /// Connections accepted while faulty.
    pub faulted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `target` (host:port).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (fault, rx) = watch::channel(Fault::Pass);
        let faulted = Arc::new(AtomicU64::new(0));
        let target = target.to_owned();
        let count = faulted.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut rx = rx.clone();
                let now = *rx.borrow_and_update();
                if now != Fault::Pass {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                tokio::spawn(handle(client, target.clone(), now, rx));
            }
        });
        Self {
            url,
            fault,
            faulted,
            task,
        }
    }

    /// From now on, `f`; open connections are cut.
    pub fn set(&self, f: Fault) {
        self.fault.send_replace(f);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    mut client: TcpStream,
    target: String,
    fault: Fault,
    mut rx: watch::Receiver<Fault>,
) {
    match fault {
        // Closed at once: the client sees the connection drop.
        Fault::Reset => drop(client),
        Fault::Stall => {
            // Hold the connection until the fault changes.
            let _ = rx.changed().await;
        }
        Fault::Unavailable => {
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut client, &mut buf).await;
            let body = "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>injected</Message></Error></ErrorResponse>";
            let _ = client
                .write_all(
                    format!(
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
        Fault::Pass => {
            let Ok(mut upstream) = TcpStream::connect(&target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                _ = rx.changed() => {}
            }
        }
    }
}
