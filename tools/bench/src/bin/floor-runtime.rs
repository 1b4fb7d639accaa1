//! The floor: a Lambda custom runtime that answers every event with
//! `{"batchItemFailures":[]}` without looking at it. It reads the whole
//! event off the socket (so the transfer is in the floor) but parses nothing.
//! std only, one keep-alive HTTP/1.1 connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

const ANSWER: &[u8] = b"{\"batchItemFailures\":[]}";

/// Reads a response head; returns (status, request id, content length).
fn read_head(r: &mut impl BufRead) -> std::io::Result<(u16, Option<String>, usize)> {
    let mut line = String::new();
    let mut status = 0;
    let mut id = None;
    let mut len = 0;
    let mut first = true;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let l = line.trim_end();
        if first {
            status = l
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            first = false;
            continue;
        }
        if l.is_empty() {
            return Ok((status, id, len));
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                id = Some(v.to_owned());
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API is not set");
    let stream = TcpStream::connect(&api)?;
    stream.set_nodelay(true)?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::with_capacity(256 * 1024, stream);
    let mut body = Vec::new();
    let next = format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n");
    loop {
        w.write_all(next.as_bytes())?;
        let (status, id, len) = read_head(&mut r)?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
        if status != 200 {
            eprintln!("floor-runtime: /next answered {status}");
            std::process::exit(1);
        }
        let id = id.expect("no Lambda-Runtime-Aws-Request-Id");
        let post = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            ANSWER.len()
        );
        let mut msg = post.into_bytes();
        msg.extend_from_slice(ANSWER);
        w.write_all(&msg)?;
        let (_, _, len) = read_head(&mut r)?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    }
}
