//! A small HTTP CONNECT proxy on loopback for the proxy tests: it logs each
//! CONNECT line, asks for Basic credentials when given some (407 without
//! them), tunnels only to loopback, and refuses anything else.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct ConnectProxy {
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    /// `credentials`: `user:password` it requires, or none.
    pub async fn start(credentials: Option<&str>) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let expected = credentials.map(|c| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(c)));
        let shared = log.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, expected.clone(), shared.clone()));
            }
        });
        ConnectProxy { port, log }
    }

    pub fn url_with(&self, userinfo: &str) -> String {
        format!("http://{userinfo}127.0.0.1:{}", self.port)
    }

    /// Each request line received, and how it was answered.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

async fn serve(mut client: TcpStream, expected: Option<String>, log: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next().unwrap_or_default().to_owned();
    let authorized = expected.as_ref().is_none_or(|want| {
        text.lines().any(|l| l.to_ascii_lowercase().starts_with("proxy-authorization:") && l[20..].trim() == want)
    });
    let target = line.strip_prefix("CONNECT ").and_then(|rest| rest.split_whitespace().next()).map(str::to_owned);
    let answer = match (&target, authorized) {
        (_, false) => "407",
        (Some(target), true) if target.starts_with("127.0.0.1:") => "200",
        _ => "403",
    };
    log.lock().unwrap().push(format!("{line} -> {answer}"));
    match (answer, target) {
        ("200", Some(target)) => {
            let Ok(mut upstream) = TcpStream::connect(&target).await else { return };
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        ("407", _) => {
            let _ = client
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
        _ => {
            let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await;
        }
    }
}
