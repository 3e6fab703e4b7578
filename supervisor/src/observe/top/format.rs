//! Figures as people read them in `ps` and `top`: short enough for a column.

/// `ms` as seconds with one decimal, or minutes and hours once long.
pub fn seconds(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=599 => format!("{:.1} s", ms as f64 / 1000.0),
        600..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// A size in bytes with a binary unit, at most 6 characters.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match (unit, value < 10.0) {
        (0, _) => format!("{n}B"),
        (_, true) => format!("{value:.1}{}", UNITS[unit]),
        (_, false) => format!("{value:.0}{}", UNITS[unit]),
    }
}

/// A latency in microseconds: `850µs`, `12.3ms`, `4.1s`.
pub fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1000..=99_999 => format!("{:.1}ms", us as f64 / 1000.0),
        100_000..=999_999 => format!("{}ms", us / 1000),
        _ => format!("{:.1}s", us as f64 / 1_000_000.0),
    }
}

/// A frame rate with one decimal.
pub fn fps(fps: f64) -> String {
    format!("{fps:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_fit_their_columns() {
        assert_eq!(seconds(1234), "1.2 s");
        assert_eq!(seconds(754_000), "12m34s");
        assert_eq!(seconds(7_380_000), "2h03m");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(5 * 1024 * 1024 + 1), "5.0M");
        assert_eq!(bytes(345 * 1024 * 1024), "345M");
        assert_eq!(micros(850), "850µs");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(250_000), "250ms");
        assert_eq!(micros(4_100_000), "4.1s");
    }
}
