//! Drawing one screen of `plexus top` with ratatui: a title line with the
//! runtime, the table of rows, and a line of keys.

use ipc_schemas::RuntimeStatus;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table};
use ratatui::Frame;

use super::format::seconds;
use super::model::{rows, Column, Direction, RowKind, SortKey};

/// What the screen shows besides the runtime's own figures.
pub struct Screen<'a> {
    pub status: &'a RuntimeStatus,
    pub sort: SortKey,
    pub direction: Direction,
    /// A sentence about the runtime (it is stopping, it did not answer),
    /// shown in the key line.
    pub note: Option<&'a str>,
    /// Rows scrolled past at the top.
    pub scroll: usize,
}

/// Draws `screen`; returns the scroll it could use: no further than the
/// last row at the bottom.
pub fn draw(frame: &mut Frame, screen: &Screen) -> usize {
    let [title, table, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let status = screen.status;
    let workers = status.workers.len();
    frame.render_widget(
        Paragraph::new(Line::from(format!(
            "plexus top  runtime {}  pipeline `{}`  up {}  {workers} worker{}",
            status.runtime,
            status.pipeline,
            seconds(status.uptime_ms),
            if workers == 1 { "" } else { "s" },
        )))
        .style(Style::new().add_modifier(Modifier::BOLD)),
        title,
    );

    let columns = Column::fitting(table.width);
    let heading = TableRow::new(columns.iter().map(|c| Cell::from(c.heading())))
        .style(Style::new().add_modifier(Modifier::REVERSED));
    let all = rows(&status.workers, screen.sort, screen.direction);
    let fit = usize::from(table.height.saturating_sub(1)).max(1);
    let scroll = screen.scroll.min(all.len().saturating_sub(fit));
    let shown = (scroll + 1, (scroll + fit).min(all.len()), all.len());
    let body = all.into_iter().skip(scroll).map(|row| {
        let style = match row.kind {
            RowKind::Worker | RowKind::Processor => Style::new().add_modifier(Modifier::BOLD),
            RowKind::Port => Style::new(),
        };
        TableRow::new(
            columns
                .iter()
                .map(|c| Cell::from(row.cell(*c).to_string()))
                .collect::<Vec<_>>(),
        )
        .style(style)
    });
    let widths = columns.iter().map(|c| Constraint::Length(c.width()));
    frame.render_widget(
        Table::new(body, widths).header(heading).column_spacing(1),
        table,
    );

    let arrow = match screen.direction {
        Direction::Descending => "down",
        Direction::Ascending => "up",
    };
    let mut line = format!(
        "q quit  s sort: {} ({arrow})  r reverse",
        screen.sort.name()
    );
    if shown.2 > fit {
        let (first, last, of) = shown;
        line = format!("{line}  up/down: rows {first}-{last} of {of}");
    }
    if let Some(note) = screen.note {
        line = format!("{line}  | {note}");
    }
    frame.render_widget(Paragraph::new(Line::from(line)), keys);
    scroll
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schemas::{OutputStatus, ProcessorStatus, WorkerStatus};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn status() -> RuntimeStatus {
        let processor = ProcessorStatus {
            processor: "camera".into(),
            type_name: "builtin.test_pattern".into(),
            frames_in: 0,
            frames_out: 90,
            fps_in: 0.0,
            fps_out: 30.0,
            dropped: 0,
            gaps: 0,
            errors: 0,
            latency_us: None,
            paused: false,
            inputs: Vec::new(),
            outputs: vec![OutputStatus {
                port: "out".into(),
                frames: 90,
                fps: 30.0,
                shm_reserved_bytes: 0,
                shm_touched_bytes: 0,
            }],
        };
        RuntimeStatus {
            runtime: "2e5e6be5".into(),
            pid: 1,
            pipeline: "demo".into(),
            uptime_ms: 3000,
            workers: vec![WorkerStatus {
                worker: "camera".into(),
                host: "local".into(),
                language: "rust".into(),
                pid: 2,
                state: "running".into(),
                restarts: 2,
                uptime_ms: 3000,
                cpu_percent: 4.0,
                rss_bytes: 11 << 20,
                cpu_ms: 120,
                exit: None,
                processors: vec![processor],
            }],
            links: Vec::new(),
        }
    }

    /// The lines of `status` drawn on `width` x `height`, scrolled by
    /// `scroll`, and the scroll used.
    fn drawn(width: u16, height: u16, scroll: usize) -> (Vec<String>, usize) {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        let status = status();
        let mut used = 0;
        terminal
            .draw(|frame| {
                let screen = Screen {
                    status: &status,
                    sort: SortKey::Pipeline,
                    direction: Direction::Descending,
                    note: Some("the runtime is stopping"),
                    scroll,
                };
                used = draw(frame, &screen);
            })
            .unwrap();
        let buffer = terminal.backend().buffer();
        let lines = (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect();
        (lines, used)
    }

    #[test]
    fn rows_that_do_not_fit_scroll_no_further_than_the_last() {
        // One row fits between the heading and the key line.
        let (lines, used) = drawn(80, 4, 5);
        assert_eq!(used, 1);
        assert!(lines[2].starts_with("  .out"), "{lines:#?}");
        assert!(lines[3].contains("rows 2-2 of 2"), "{lines:#?}");
    }

    #[test]
    fn eighty_columns_show_the_runtime_its_rows_and_the_keys() {
        let (lines, used) = drawn(80, 24, 5);
        assert_eq!(used, 0, "every row fits");
        let line = |y: usize| lines[y].clone();
        assert!(line(0).contains("runtime 2e5e6be5"), "{}", line(0));
        assert!(line(1).starts_with("PROCESSOR"), "{}", line(1));
        let camera = line(2);
        assert!(camera.starts_with("camera") && camera.contains("running"));
        assert!(
            camera.contains("30.0") && camera.contains("11M"),
            "{camera}"
        );
        assert!(line(3).starts_with("  .out"), "{}", line(3));
        let keys = line(23);
        assert!(
            keys.contains("q quit") && keys.contains("stopping"),
            "{keys}"
        );
    }
}
