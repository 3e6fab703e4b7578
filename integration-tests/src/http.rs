//! A small HTTP/1.1 client over `std::net::TcpStream`, enough to test the
//! dashboard as a browser or a script reaches it (requests with any
//! headers, a WebSocket handshake and its first message) without a web
//! stack in the tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Header names and values, in the order they came.
pub type Headers = Vec<(String, String)>;

/// An answer, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }
}

/// A request to the server at `addr`. Host is `addr` unless `headers`
/// name one.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Self {
        Self {
            method: "GET",
            path,
            headers: Vec::new(),
            body: &[],
        }
    }

    pub fn post(path: &'a str, body: &'a [u8]) -> Self {
        Self {
            method: "POST",
            body,
            ..Self::get(path)
        }
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sends it and reads the whole answer.
    pub fn send(&self, addr: SocketAddr) -> Response {
        let mut stream = self.open(addr);
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("{} {}: reading the answer: {e}", self.method, self.path));
        let (status, headers, at) = head(&raw)
            .unwrap_or_else(|| panic!("{} {}: no HTTP answer in {raw:?}", self.method, self.path));
        let mut body = raw[at..].to_vec();
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        if chunked {
            body = dechunk(&body);
        }
        Response {
            status,
            headers,
            body,
        }
    }

    /// Sends it as a WebSocket handshake; returns the answer's status and,
    /// when the server switched protocols, its first text message.
    pub fn upgrade(self, addr: SocketAddr) -> (u16, Option<Value>) {
        let request = self
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13");
        let mut stream = request.open(addr);
        let mut raw = Vec::new();
        let mut byte = [0u8];
        while !raw.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => raw.push(byte[0]),
                _ => break,
            }
        }
        let (status, _, _) = head(&raw).unwrap_or_else(|| panic!("no HTTP answer in {raw:?}"));
        if status != 101 {
            return (status, None);
        }
        (status, Some(text_message(&mut stream)))
    }

    fn open(&self, addr: SocketAddr) -> TcpStream {
        let mut stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut text = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            text += &format!("Host: {addr}\r\n");
        }
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
        {
            text += "Connection: close\r\n";
        }
        for (name, value) in &self.headers {
            text += &format!("{name}: {value}\r\n");
        }
        if self.method == "POST" {
            text += &format!("Content-Length: {}\r\n", self.body.len());
        }
        text += "\r\n";
        stream.write_all(text.as_bytes()).unwrap();
        stream.write_all(self.body).unwrap();
        stream
    }
}

/// The status, headers and where the body starts.
fn head(raw: &[u8]) -> Option<(u16, Headers, usize)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Some((status, headers, end + 4))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap_or("0");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}

/// Reads one unmasked server frame, which must be a text message.
fn text_message(stream: &mut TcpStream) -> Value {
    let mut start = [0u8; 2];
    stream.read_exact(&mut start).expect("a WebSocket frame");
    assert_eq!(start[0] & 0x0f, 1, "a text frame: {start:?}");
    let len = match start[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            stream.read_exact(&mut n).unwrap();
            u16::from_be_bytes(n) as usize
        }
        127 => {
            let mut n = [0u8; 8];
            stream.read_exact(&mut n).unwrap();
            u64::from_be_bytes(n) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    serde_json::from_slice(&payload).expect("a JSON message")
}
