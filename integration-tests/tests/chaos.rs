//! Chaos (docs/ARCHITECTURE.md §5): while a mixed pipeline runs, a random worker of
//! its middle stages — one Rust, one Python, one Deno — is SIGKILLed every
//! half second or so, whatever it is doing (processing, or still coming back
//! from its last death). Each is restarted every time; the camera's own sink
//! loses nothing; frames still get through the chain; Ctrl-C then ends the
//! run cleanly with nothing left behind.
//!
//! The schedule is random: the seed is printed, and `PLEXUS_CHAOS_SEED`
//! replays it (the timing of each kill against the workers' life cycles
//! differs from run to run all the same). `PLEXUS_CHAOS_SECS` (default 20)
//! sets how long the chaos lasts.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use integration_tests::residue::worker_pid;
use integration_tests::{assert_no_residue, pipeline, spawn_plexus};
use serde_json::Value;

/// The workers that get killed, all pass-throughs of video/rgba8 that fail
/// only on frames that never come (`every: 1000000`, bar frame 0).
const VICTIMS: [&str; 3] = ["rs", "py", "ts"];

/// How long the chaos lasts unless `PLEXUS_CHAOS_SECS` says otherwise.
const DEFAULT_SECS: f64 = 20.0;

/// Kills come every 250–750 ms, ~0.5 s on average.
const KILL_INTERVAL_MS: (u64, u64) = (250, 750);

/// xorshift64*: small, good enough for a schedule, and replayable.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `lo..hi` for a schedule.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn seed() -> u64 {
    if let Ok(seed) = std::env::var("PLEXUS_CHAOS_SEED") {
        return seed.trim().parse().expect("PLEXUS_CHAOS_SEED is a u64");
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970");
    now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
}

fn chaos_duration() -> Duration {
    let secs = std::env::var("PLEXUS_CHAOS_SECS").map_or(DEFAULT_SECS, |s| {
        s.trim().parse().expect("PLEXUS_CHAOS_SECS is a number")
    });
    Duration::from_secs_f64(secs)
}

#[test]
fn chaos_random_kills_of_middle_workers_lose_nothing_at_the_source_sink() {
    let seed = seed();
    let chaos = chaos_duration();
    eprintln!("chaos: seed {seed} (replay with PLEXUS_CHAOS_SEED={seed}), {chaos:?} of kills");
    let mut rng = Rng::new(seed);

    let began = Instant::now();
    // `cam → a`, and `cam → rs → py → ts → b`.
    let (tmp, path) = pipeline("chaos.yaml", &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    // Python and Deno may take a while to come up on a cold cache.
    for processor in ["cam", "a", "rs", "py", "ts", "b"] {
        running.wait_for(
            &format!("processor {processor} started"),
            Duration::from_secs(60),
        );
    }
    let runtime = running.runtime_id();
    let plexus = running.pid();
    let started = began.elapsed();

    // Kill every victim once before picking freely, so each one dies at
    // least once however the dice fall.
    let mut kills = [0u32; VICTIMS.len()];
    let mut misses = 0u32;
    let mut schedule = Vec::new();
    let end = Instant::now() + chaos;
    while Instant::now() < end {
        let spared: Vec<usize> = (0..VICTIMS.len()).filter(|&i| kills[i] == 0).collect();
        let victim = if spared.is_empty() {
            rng.range(0, VICTIMS.len() as u64) as usize
        } else {
            spared[rng.range(0, spared.len() as u64) as usize]
        };
        let name = VICTIMS[victim];
        match worker_pid(&runtime, plexus, name) {
            Some(pid) => {
                // SAFETY: kill(2) of a worker of our own plexus.
                let sent = unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0;
                if sent {
                    kills[victim] += 1;
                    schedule.push(format!(
                        "{:.2}s {name}:{pid}",
                        began.elapsed().as_secs_f64()
                    ));
                } else {
                    misses += 1;
                }
            }
            // Between its death and its successor's spawn.
            None => misses += 1,
        }
        let pause = rng.range(KILL_INTERVAL_MS.0, KILL_INTERVAL_MS.1);
        std::thread::sleep(
            Duration::from_millis(pause).min(end.saturating_duration_since(Instant::now())),
        );
    }
    eprintln!(
        "chaos: kills {:?} ({} in all, {misses} missed) after {started:.1?} of start-up",
        VICTIMS.iter().zip(kills).collect::<Vec<_>>(),
        kills.iter().sum::<u32>(),
    );
    eprintln!("chaos: schedule {}", schedule.join(", "));
    assert!(
        kills.iter().all(|&k| k > 0),
        "every victim was killed at least once: {kills:?}"
    );

    running.signal(libc::SIGINT);
    let run = running.finish();
    eprintln!("chaos: whole run {:.1?}", began.elapsed());
    assert_no_residue(&runtime);
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "seed {seed}\n{log}");
    let summary: Value = run.json();
    assert_eq!(
        summary["outcome"], "stopped",
        "seed {seed}\n{summary:#}\n{log}"
    );

    // The camera's own sink saw every frame, in order.
    let sent = summary["processors"]["cam"]["frames_out"].as_u64().unwrap();
    assert!(sent > 0, "{summary:#}");
    assert_eq!(
        summary["processors"]["a"]["frames_in"], sent,
        "seed {seed}\n{summary:#}\n{log}"
    );
    assert_eq!(
        summary["processors"]["a"]["gaps"], 0,
        "seed {seed}\n{summary:#}\n{log}"
    );

    for (name, killed) in VICTIMS.iter().zip(kills) {
        let worker = &summary["workers"][name];
        let restarts = worker["restarts"].as_u64().unwrap();
        eprintln!("chaos: {name} killed {killed}×, restarted {restarts}×, {worker}");
        assert!(restarts >= 1, "seed {seed}: {name}: {worker}\n{log}");
        // Every death was answered with a restart, bar perhaps the last
        // one, which may land as the run stops.
        assert!(
            restarts + 1 >= u64::from(killed),
            "seed {seed}: {name} was killed {killed}× but restarted {restarts}×: {worker}\n{log}"
        );
        assert_eq!(
            worker["failure"],
            Value::Null,
            "seed {seed}: {name}: {worker}\n{log}"
        );
        let state = worker["state"].as_str().unwrap();
        assert!(
            state == "stopped" || state == "exited",
            "seed {seed}: {name} ended {state}: {worker}\n{log}"
        );
    }

    let through = summary["processors"]["b"]["frames_in"].as_u64().unwrap();
    eprintln!("chaos: cam sent {sent}, b got {through}");
    assert!(
        through > 0,
        "seed {seed}: nothing got through the chain\n{summary:#}\n{log}"
    );
}
