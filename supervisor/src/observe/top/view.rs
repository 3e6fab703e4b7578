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
}

pub fn draw(frame: &mut Frame, screen: &Screen) {
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
    let body = rows(&status.workers, screen.sort, screen.direction)
        .into_iter()
        .map(|row| {
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
    if let Some(note) = screen.note {
        line = format!("{line}  | {note}");
    }
    frame.render_widget(Paragraph::new(Line::from(line)), keys);
}
