//! `plexus-dashboard`: the process behind `plexus dashboard`.

fn main() {}
