//! The two-host harness the tests across hosts stand on: the namespaces
//! reach each other over their veth and nothing else,
//! an impaired link delays and loses packets both ways until it is repaired,
//! and dropping the pair removes the namespaces, the veth and every process
//! started in them.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::exits_within;
use integration_tests::netns::{in_namespace, Host, NetPair};

/// A listener inside `host`'s namespace on `addr`, answering one
/// connection with `hello`; returns its port.
fn listen_once(host: &Host, addr: Ipv4Addr) -> u16 {
    let listener = in_namespace(&host.ns, move || TcpListener::bind((addr, 0))).expect("binding");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"hello");
        }
    });
    port
}

#[test]
fn two_namespaces_reach_each_other_over_the_veth_and_nothing_else() {
    let Some(pair) =
        NetPair::create("two_namespaces_reach_each_other_over_the_veth_and_nothing_else")
    else {
        return;
    };
    assert_ne!(pair.a.ns, pair.b.ns);

    // A reaches B's address, and reads what B's listener says.
    let port = listen_once(&pair.b, pair.b.addr);
    let mut stream = pair.connect(&pair.a, pair.b.addr, port).expect("A → B");
    let mut said = String::new();
    stream.read_to_string(&mut said).unwrap();
    assert_eq!(said, "hello");

    // B's loopback is its own: a listener there is not A's loopback.
    let port = listen_once(&pair.b, Ipv4Addr::LOCALHOST);
    let refused = pair.connect(&pair.a, Ipv4Addr::LOCALHOST, port);
    assert!(refused.is_err(), "A reached B's loopback on port {port}");
    // Nor does the machine's own namespace see B's address.
    let port = listen_once(&pair.b, pair.b.addr);
    let from_machine =
        std::net::TcpStream::connect_timeout(&(pair.b.addr, port).into(), Duration::from_secs(1));
    assert!(
        from_machine.is_err(),
        "the machine reached B at {}",
        pair.b.addr
    );

    // `ip netns exec` runs a program inside: it sees only lo and its veth end.
    let links = pair.exec_ok(&pair.a, &["ip", "-o", "link"]);
    let links = String::from_utf8_lossy(&links.stdout);
    let names: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap())
        .collect();
    assert_eq!(names, ["lo", pair.a.dev.as_str()], "{links}");
}

/// The fastest of five connects from A to B.
fn fastest_connect(pair: &NetPair) -> Duration {
    (0..5)
        .map(|_| {
            let port = listen_once(&pair.b, pair.b.addr);
            let start = Instant::now();
            pair.connect(&pair.a, pair.b.addr, port).expect("A → B");
            start.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn an_impaired_link_delays_and_loses_packets_until_it_is_repaired() {
    let Some(pair) =
        NetPair::create("an_impaired_link_delays_and_loses_packets_until_it_is_repaired")
    else {
        return;
    };
    let delay = Duration::from_millis(20);
    let plain = fastest_connect(&pair);
    assert!(
        plain < delay,
        "a connect across the bare veth took {plain:?}"
    );
    // A connect waits for the SYN to reach B and its answer to come back:
    // two delayed packets.
    pair.impair(delay, 1.0);
    let impaired = fastest_connect(&pair);
    assert!(
        impaired >= 2 * delay,
        "a connect over the impaired link took {impaired:?}"
    );
    let (carried, _) = pair.impaired_counts().expect("impaired");
    assert!(carried >= 10, "the line carried {carried} packets");

    // Every packet lost: nothing connects.
    pair.impair(delay, 100.0);
    let port = listen_once(&pair.b, pair.b.addr);
    let lost = pair.connect(&pair.a, pair.b.addr, port);
    assert!(
        lost.is_err(),
        "a connect went through a link that loses everything"
    );
    let (carried, lost) = pair.impaired_counts().expect("impaired");
    assert_eq!(carried, 0);
    assert!(lost >= 1);

    pair.repair();
    assert!(pair.impaired_counts().is_none());
    let repaired = fastest_connect(&pair);
    assert!(
        repaired < delay,
        "a connect after the repair took {repaired:?}"
    );
}

#[test]
fn dropping_the_pair_removes_namespaces_veth_and_processes() {
    let Some(pair) = NetPair::create("dropping_the_pair_removes_namespaces_veth_and_processes")
    else {
        return;
    };
    let mut sleeper = pair
        .command(&pair.b, "sleep")
        .arg("600")
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("sleep in B");
    let pid = sleeper.id();
    assert_eq!(pair.pids(&pair.b), [pid]);
    let (a, b, dev) = (pair.a.ns.clone(), pair.b.ns.clone(), pair.a.dev.clone());
    assert!(Path::new("/var/run/netns").join(&a).exists());

    // Dropped while a test unwinds, as when an assertion fails.
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _pair = pair;
        panic!("a failing test");
    }));
    assert!(unwound.is_err());
    let status = sleeper.wait().expect("reaping sleep");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert!(exits_within(pid, Duration::from_secs(1)));
    for ns in [&a, &b] {
        assert!(
            !Path::new("/var/run/netns").join(ns).exists(),
            "{ns} is left"
        );
    }
    let link = std::process::Command::new("ip")
        .args(["link", "show", &dev])
        .output()
        .unwrap();
    assert!(!link.status.success(), "veth {dev} is left");
}
