//! A small HTTP/1.1 file server on 127.0.0.1 over `std::net`, for the tests
//! that download packages: it serves byte strings by path, honours
//! `Range: bytes=N-`, and misbehaves on request (closes a body early,
//! stalls after its headers) so that every way a download can fail is
//! real network behaviour. It logs each request's path and range.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a path is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Whole, or from a range's start.
    Normal,
    /// Headers for the whole body, then half of it, then the connection closes.
    Truncated,
    /// [`Mode::Truncated`] the first time, [`Mode::Normal`] afterwards.
    TruncatedOnce,
    /// Headers, then nothing, until the server is dropped.
    Stall,
}

/// One request the server answered: its path and its `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
}

#[derive(Default)]
struct Files {
    routes: BTreeMap<String, (Vec<u8>, Mode)>,
    log: Vec<Logged>,
}

/// The server; it stops when dropped.
pub struct FileServer {
    addr: SocketAddr,
    files: Arc<Mutex<Files>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Default for FileServer {
    fn default() -> Self {
        Self::start()
    }
}

impl FileServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let files = Arc::new(Mutex::new(Files::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (files, stop) = (files.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (files, stop) = (files.clone(), stop.clone());
                    std::thread::spawn(move || serve(stream, &files, &stop));
                }
            })
        };
        Self {
            addr,
            files,
            stop,
            accept: Some(accept),
        }
    }

    /// Serves `body` at `path` (starting with `/`) as `mode` says.
    pub fn put(&self, path: &str, body: Vec<u8>, mode: Mode) {
        self.files
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), (body, mode));
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests answered so far.
    pub fn log(&self) -> Vec<Logged> {
        self.files.lock().unwrap().log.clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(stream: TcpStream, files: &Mutex<Files>, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("a socket"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let found = {
        let mut files = files.lock().unwrap();
        files.log.push(Logged {
            path: path.clone(),
            range: range.clone(),
        });
        let found = files.routes.get(&path).cloned();
        // A path truncated once is served whole from now on.
        if let Some((body, Mode::TruncatedOnce)) = &found {
            let body = body.clone();
            files.routes.insert(path.clone(), (body, Mode::Normal));
        }
        found
    };
    let mut out = stream;
    let Some((body, mode)) = found else {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n < body.len() && mode == Mode::Normal);
    let (status, part) = match start {
        Some(n) => (
            format!(
                "206 Partial Content\r\nContent-Range: bytes {n}-{}/{}",
                body.len() - 1,
                body.len()
            ),
            &body[n..],
        ),
        None => ("200 OK".to_string(), &body[..]),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
        part.len()
    );
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    match mode {
        Mode::Normal => {
            let _ = out.write_all(part);
        }
        Mode::Truncated | Mode::TruncatedOnce => {
            let _ = out.write_all(&part[..part.len() / 2]);
        }
        Mode::Stall => {
            let _ = out.flush();
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
