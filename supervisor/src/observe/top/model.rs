//! What `plexus top` shows, before any drawing: the runtime's status as
//! rows of text cells, one per worker, processor and port, in the order
//! the user sorted, and which columns fit the terminal's width.

use ipc_schemas::{InputStatus, LatencyUs, OutputStatus, ProcessorStatus, WorkerStatus};

use super::format::{bytes, fps, micros};

/// A column of the table. The headings use the words of `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Processor,
    State,
    Restarts,
    Cpu,
    Rss,
    FpsIn,
    FpsOut,
    Dropped,
    Gaps,
    Errors,
    P50,
    P99,
    Queue,
    /// An output's shared memory reserved in `/dev/shm`.
    Shm,
}

impl Column {
    /// Every column, left to right.
    pub const ALL: [Column; 14] = [
        Column::Processor,
        Column::State,
        Column::Restarts,
        Column::Cpu,
        Column::Rss,
        Column::FpsIn,
        Column::FpsOut,
        Column::Dropped,
        Column::Gaps,
        Column::Errors,
        Column::P50,
        Column::P99,
        Column::Queue,
        Column::Shm,
    ];

    pub fn heading(self) -> &'static str {
        match self {
            Column::Processor => "PROCESSOR",
            Column::State => "STATE",
            Column::Restarts => "RESTARTS",
            Column::Cpu => "CPU%",
            Column::Rss => "RSS",
            Column::FpsIn => "FPS IN",
            Column::FpsOut => "FPS OUT",
            Column::Dropped => "DROPPED",
            Column::Gaps => "GAPS",
            Column::Errors => "ERRORS",
            Column::P50 => "P50",
            Column::P99 => "P99",
            Column::Queue => "QUEUE",
            Column::Shm => "SHM",
        }
    }

    /// Characters the column takes; longer cells are cut.
    pub fn width(self) -> u16 {
        match self {
            Column::Processor => 14,
            Column::State => 10,
            Column::Restarts => 8,
            Column::Cpu => 5,
            Column::Rss => 6,
            Column::FpsIn => 6,
            Column::FpsOut => 7,
            Column::Dropped => 7,
            Column::Gaps => 5,
            Column::Errors => 6,
            Column::P50 => 6,
            Column::P99 => 6,
            Column::Queue => 5,
            Column::Shm => 6,
        }
    }

    /// Which columns go first when the terminal is too narrow: the lowest.
    fn keep(self) -> u8 {
        match self {
            Column::Processor => 100,
            Column::FpsIn | Column::FpsOut => 90,
            Column::Restarts => 85,
            Column::State => 80,
            Column::Dropped => 70,
            Column::Cpu => 65,
            Column::Rss => 60,
            Column::P99 => 55,
            Column::Errors => 50,
            Column::Queue => 45,
            Column::P50 => 40,
            Column::Gaps => 35,
            Column::Shm => 30,
        }
    }

    /// The columns that fit `width` characters, one space between two,
    /// dropping the least needed first; left to right.
    pub fn fitting(width: u16) -> Vec<Column> {
        let mut kept = Column::ALL.to_vec();
        let total = |cols: &[Column]| -> u16 {
            cols.iter().map(|c| c.width()).sum::<u16>() + cols.len().saturating_sub(1) as u16
        };
        while total(&kept) > width && kept.len() > 1 {
            let least = kept
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.keep())
                .map(|(i, _)| i)
                .unwrap_or(0);
            kept.remove(least);
        }
        kept
    }
}

/// What the rows are ordered by, within a runtime: workers by their own
/// figures or their processors' added up; a worker's processors and ports
/// stay under it, in the pipeline's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// As the pipeline lists them.
    Pipeline,
    FpsIn,
    FpsOut,
    Dropped,
    Errors,
    P99,
    Restarts,
    Cpu,
    Rss,
}

impl SortKey {
    /// The next key, for the `s` key.
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Pipeline => SortKey::FpsIn,
            SortKey::FpsIn => SortKey::FpsOut,
            SortKey::FpsOut => SortKey::Dropped,
            SortKey::Dropped => SortKey::Errors,
            SortKey::Errors => SortKey::P99,
            SortKey::P99 => SortKey::Restarts,
            SortKey::Restarts => SortKey::Cpu,
            SortKey::Cpu => SortKey::Rss,
            SortKey::Rss => SortKey::Pipeline,
        }
    }

    /// Its name, in the words of `--json`.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Pipeline => "pipeline",
            SortKey::FpsIn => "fps_in",
            SortKey::FpsOut => "fps_out",
            SortKey::Dropped => "dropped",
            SortKey::Errors => "errors",
            SortKey::P99 => "latency p99",
            SortKey::Restarts => "restarts",
            SortKey::Cpu => "cpu_percent",
            SortKey::Rss => "rss_bytes",
        }
    }

    /// Worker `w`'s figure for this key.
    fn of(self, w: &WorkerStatus) -> f64 {
        let sum = |f: fn(&ProcessorStatus) -> f64| w.processors.iter().map(f).sum::<f64>();
        match self {
            SortKey::Pipeline => 0.0,
            SortKey::FpsIn => sum(|p| p.fps_in),
            SortKey::FpsOut => sum(|p| p.fps_out),
            SortKey::Dropped => sum(|p| p.dropped as f64),
            SortKey::Errors => sum(|p| p.errors as f64),
            SortKey::P99 => w
                .processors
                .iter()
                .filter_map(|p| p.latency_us)
                .map(|l| l.p99 as f64)
                .fold(0.0, f64::max),
            SortKey::Restarts => f64::from(w.restarts),
            SortKey::Cpu => w.cpu_percent,
            SortKey::Rss => w.rss_bytes as f64,
        }
    }
}

/// Which way the rows run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Largest first (the pipeline's own order for [`SortKey::Pipeline`]).
    Descending,
    Ascending,
}

impl Direction {
    pub fn reversed(self) -> Direction {
        match self {
            Direction::Descending => Direction::Ascending,
            Direction::Ascending => Direction::Descending,
        }
    }
}

/// What a row stands for, which the view indents and styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A worker hosting several processors, or named apart from its one.
    Worker,
    /// A processor; with its worker's figures when it is its worker's only one.
    Processor,
    Port,
}

/// One row: its kind and the text of every column, in [`Column::ALL`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: RowKind,
    cells: [String; Column::ALL.len()],
}

impl Row {
    fn new(kind: RowKind, name: String) -> Self {
        let mut cells: [String; Column::ALL.len()] = Default::default();
        cells[0] = name;
        Self { kind, cells }
    }

    fn set(&mut self, column: Column, text: String) {
        if let Some(i) = Column::ALL.iter().position(|c| *c == column) {
            self.cells[i] = text;
        }
    }

    pub fn cell(&self, column: Column) -> &str {
        Column::ALL
            .iter()
            .position(|c| *c == column)
            .map_or("", |i| self.cells[i].as_str())
    }
}

/// The rows of `workers`, sorted by `key` in `direction`.
pub fn rows(workers: &[WorkerStatus], key: SortKey, direction: Direction) -> Vec<Row> {
    let mut order: Vec<&WorkerStatus> = workers.iter().collect();
    if key != SortKey::Pipeline {
        // Stable: workers with equal figures keep the pipeline's order.
        order.sort_by(|a, b| key.of(b).total_cmp(&key.of(a)));
    }
    if direction == Direction::Ascending {
        order.reverse();
    }
    let mut rows = Vec::new();
    for w in order {
        let alone = match w.processors.as_slice() {
            [one] if one.processor == w.worker => Some(one),
            _ => None,
        };
        match alone {
            Some(p) => {
                let mut row = processor_row(p, "");
                worker_cells(&mut row, w);
                rows.push(row);
                ports(&mut rows, p, "  ");
            }
            None => {
                let mut row = Row::new(RowKind::Worker, format!("[{}]", w.worker));
                worker_cells(&mut row, w);
                rows.push(row);
                for p in &w.processors {
                    rows.push(processor_row(p, "  "));
                    ports(&mut rows, p, "    ");
                }
            }
        }
    }
    rows
}

fn worker_cells(row: &mut Row, w: &WorkerStatus) {
    row.set(Column::State, w.state.clone());
    row.set(Column::Restarts, w.restarts.to_string());
    let running = w.pid != 0;
    row.set(
        Column::Cpu,
        if running {
            format!("{:.1}", w.cpu_percent)
        } else {
            "-".into()
        },
    );
    row.set(
        Column::Rss,
        if running {
            bytes(w.rss_bytes)
        } else {
            "-".into()
        },
    );
}

fn processor_row(p: &ProcessorStatus, indent: &str) -> Row {
    let mut row = Row::new(RowKind::Processor, format!("{indent}{}", p.processor));
    if p.paused {
        row.set(Column::State, "paused".into());
    }
    if !p.inputs.is_empty() {
        row.set(Column::FpsIn, fps(p.fps_in));
        row.set(Column::Dropped, p.dropped.to_string());
        row.set(Column::Gaps, p.gaps.to_string());
        latency_cells(&mut row, p.latency_us);
    }
    if !p.outputs.is_empty() {
        row.set(Column::FpsOut, fps(p.fps_out));
    }
    row.set(Column::Errors, p.errors.to_string());
    row
}

/// A row per port of `p`, under it.
fn ports(rows: &mut Vec<Row>, p: &ProcessorStatus, indent: &str) {
    for input in &p.inputs {
        rows.push(input_row(input, indent));
    }
    for output in &p.outputs {
        rows.push(output_row(output, indent));
    }
}

fn input_row(input: &InputStatus, indent: &str) -> Row {
    let mut row = Row::new(RowKind::Port, format!("{indent}.{}", input.port));
    row.set(Column::FpsIn, fps(input.fps));
    row.set(Column::Dropped, input.dropped.to_string());
    row.set(Column::Gaps, input.gaps.to_string());
    row.set(Column::Queue, input.queue.to_string());
    latency_cells(&mut row, input.latency_us);
    row
}

fn output_row(output: &OutputStatus, indent: &str) -> Row {
    let mut row = Row::new(RowKind::Port, format!("{indent}.{}", output.port));
    row.set(Column::FpsOut, fps(output.fps));
    row.set(Column::Shm, bytes(output.shm_reserved_bytes));
    row
}

fn latency_cells(row: &mut Row, latency: Option<LatencyUs>) {
    let (p50, p99) = match latency {
        Some(l) => (micros(l.p50), micros(l.p99)),
        None => ("-".into(), "-".into()),
    };
    row.set(Column::P50, p50);
    row.set(Column::P99, p99);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn processor(id: &str, fps_out: f64, inputs: usize) -> ProcessorStatus {
        ProcessorStatus {
            processor: id.into(),
            type_name: "t".into(),
            frames_in: 0,
            frames_out: 0,
            fps_in: 0.0,
            fps_out,
            dropped: 0,
            gaps: 0,
            errors: 0,
            latency_us: None,
            paused: false,
            inputs: (0..inputs)
                .map(|_| InputStatus {
                    port: "in".into(),
                    frames: 0,
                    fps: 0.0,
                    dropped: 0,
                    gaps: 0,
                    queue: 2,
                    caught: 0,
                    caught_percent: 0.0,
                    latency_us: Some(LatencyUs {
                        p50: 800,
                        p99: 1500,
                    }),
                    latency_histogram: Default::default(),
                })
                .collect(),
            outputs: vec![OutputStatus {
                port: "out".into(),
                frames: 0,
                fps: fps_out,
                shm_reserved_bytes: 3 << 20,
                shm_touched_bytes: 1 << 20,
            }],
        }
    }

    fn worker(name: &str, processors: Vec<ProcessorStatus>) -> WorkerStatus {
        WorkerStatus {
            worker: name.into(),
            host: "local".into(),
            language: "rust".into(),
            pid: 7,
            state: "running".into(),
            restarts: 1,
            uptime_ms: 0,
            cpu_percent: 12.5,
            rss_bytes: 3 << 20,
            cpu_ms: 0,
            exit: None,
            processors,
        }
    }

    #[test]
    fn a_lone_processor_carries_its_worker_and_a_group_gets_a_row_of_its_own() {
        let workers = [
            worker("cam", vec![processor("cam", 30.0, 0)]),
            worker(
                "effects",
                vec![processor("a", 10.0, 1), processor("b", 20.0, 1)],
            ),
        ];
        let rows = rows(&workers, SortKey::Pipeline, Direction::Descending);
        let names: Vec<&str> = rows.iter().map(|r| r.cell(Column::Processor)).collect();
        assert_eq!(
            names,
            [
                "cam",
                "  .out",
                "[effects]",
                "  a",
                "    .in",
                "    .out",
                "  b",
                "    .in",
                "    .out"
            ]
        );
        assert_eq!(rows[0].cell(Column::Restarts), "1");
        assert_eq!(rows[0].cell(Column::FpsOut), "30.0");
        assert_eq!(rows[4].cell(Column::Queue), "2");
        assert_eq!(rows[4].cell(Column::P99), "1.5ms");
        assert_eq!(
            rows[1].cell(Column::Shm),
            "3.0M",
            "an output's reserved memory"
        );
        assert_eq!(rows[4].cell(Column::Shm), "", "an input holds none");
    }

    #[test]
    fn sorting_orders_workers_and_keeps_ports_under_their_processor() {
        let workers = [
            worker("slow", vec![processor("slow", 5.0, 1)]),
            worker("fast", vec![processor("fast", 50.0, 1)]),
        ];
        let first = |d| {
            rows(&workers, SortKey::FpsOut, d)[0]
                .cell(Column::Processor)
                .to_string()
        };
        assert_eq!(first(Direction::Descending), "fast");
        assert_eq!(first(Direction::Ascending), "slow");
        let mut key = SortKey::Pipeline;
        for _ in 0..9 {
            key = key.next();
        }
        assert_eq!(key, SortKey::Pipeline, "the keys go round");
    }

    #[test]
    fn eighty_columns_keep_names_rates_and_restarts() {
        let narrow = Column::fitting(80);
        for needed in [
            Column::Processor,
            Column::FpsIn,
            Column::FpsOut,
            Column::Restarts,
        ] {
            assert!(narrow.contains(&needed), "{narrow:?}");
        }
        let width: u16 = narrow.iter().map(|c| c.width() + 1).sum::<u16>() - 1;
        assert!(width <= 80, "{width}");
        assert_eq!(Column::fitting(120), Column::ALL.to_vec());
    }
}
