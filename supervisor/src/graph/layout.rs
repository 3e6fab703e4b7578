//! Where everything of a `plexus graph` picture goes, so that SVG and PNG
//! draw the same picture without Graphviz: a layered layout in the manner
//! of Sugiyama. Processors are put in columns by their longest path from
//! a source (frames flow left to right), a connection that skips columns
//! passes through a placeholder in each (so it never crosses a box), the
//! order within each column is improved by barycentres, and each box is
//! then set at the height of its upstream's. Lengths are in text units: a
//! character is [`CHAR_W`] wide and a line [`LINE_H`] high.

use crate::graph::model::Graph;

/// How wide a character of text is.
pub const CHAR_W: i32 = 8;
/// How high a line of text is, with its spacing.
pub const LINE_H: i32 = 14;
const PAD_X: i32 = 12;
const PAD_Y: i32 = 8;
/// Between boxes of a column.
const V_GAP: i32 = 24;
/// Around a connection's label, within the gap between columns.
const LABEL_ROOM: i32 = 20;
const MIN_GAP: i32 = 64;
const MARGIN: i32 = 20;
/// The title's line and the space under it.
const TITLE_H: i32 = 2 * LINE_H;
/// Passes of barycentre ordering, each one down and one up.
const SWEEPS: usize = 6;
/// The legend's colour squares.
pub const SWATCH: i32 = LINE_H;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub fn right(&self) -> i32 {
        self.x + self.w
    }
    pub fn bottom(&self) -> i32 {
        self.y + self.h
    }
}

/// The picture's geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: i32,
    pub height: i32,
    /// Where the title's line starts (its top left).
    pub title: (i32, i32),
    /// One per node, in the graph's order.
    pub boxes: Vec<Rect>,
    /// One per edge, in the graph's order.
    pub routes: Vec<Route>,
    /// One colour square per language, with its words to the right.
    pub legend: Vec<(&'static str, Rect)>,
    /// Each node's column, counted from 0 at the left.
    pub columns: Vec<usize>,
}

/// The path of one connection and the place of its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// From the upstream box's right side to the downstream box's left side,
    /// never going left; the arrow points at the last.
    pub points: Vec<(i32, i32)>,
    pub label: Rect,
}

/// One entry of a column: a processor, or a connection passing through.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Node(usize),
    /// Connection `edge` on its way through column `column`.
    Through {
        edge: usize,
        column: usize,
    },
}

/// The size of a box holding `lines`, with padding.
pub fn text_box(lines: &[String]) -> (i32, i32) {
    let chars = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as i32;
    (
        chars * CHAR_W + 2 * PAD_X,
        lines.len() as i32 * LINE_H + 2 * PAD_Y,
    )
}

/// Where each of `lines` starts (top left) when centred in `rect`.
pub fn centred_lines<'a>(rect: &Rect, lines: &'a [String]) -> Vec<(i32, i32, &'a str)> {
    let top = rect.y + (rect.h - lines.len() as i32 * LINE_H) / 2;
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let w = line.chars().count() as i32 * CHAR_W;
            (
                rect.x + (rect.w - w) / 2,
                top + i as i32 * LINE_H,
                line.as_str(),
            )
        })
        .collect()
}

/// Lays `graph` out. Pipelines have no cycles (the plan refuses them), so
/// every connection goes to a column further right.
pub fn layout(graph: &Graph) -> Layout {
    let links: Vec<(usize, usize)> = graph.edges.iter().map(|e| (e.from, e.to)).collect();
    let columns = columns(graph.nodes.len(), &links);
    let (mut order, chains) = slots(&columns, &links);
    arrange(&mut order, &chains);

    let sizes: Vec<(i32, i32)> = graph.nodes.iter().map(|n| text_box(&n.lines())).collect();
    let labels: Vec<(i32, i32)> = graph.edges.iter().map(|e| text_box(&e.lines())).collect();
    let size = |slot: &Slot| match slot {
        Slot::Node(n) => sizes[*n],
        Slot::Through { .. } => (0, LINE_H),
    };

    // Columns: as wide as their widest box, apart by their widest label.
    let mut lefts = Vec::new();
    let mut x = MARGIN;
    for (k, column) in order.iter().enumerate() {
        lefts.push(x);
        let width = column.iter().map(|s| size(s).0).max().unwrap_or(0);
        let gap = graph
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| columns[e.from] == k)
            .map(|(i, _)| labels[i].0 + 2 * LABEL_ROOM)
            .max()
            .unwrap_or(0)
            .max(MIN_GAP);
        x += width + gap;
    }
    let widths: Vec<i32> = order
        .iter()
        .map(|c| c.iter().map(|s| size(s).0).max().unwrap_or(0))
        .collect();

    // Heights: each slot at the height of what feeds it, without overlap.
    let mut centre: Vec<Vec<i32>> = order.iter().map(|c| vec![0; c.len()]).collect();
    for k in 0..order.len() {
        let mut floor = i32::MIN;
        for (i, slot) in order[k].iter().enumerate() {
            let h = size(slot).1;
            let feeders = neighbours(&order, &chains, k, slot, Side::Before);
            let wanted = match feeders.is_empty() {
                true => floor.max(0) + h / 2,
                false => average(feeders.iter().map(|&(c, j)| centre[c][j])),
            };
            let top = (wanted - h / 2).max(floor);
            centre[k][i] = top + h / 2;
            floor = top + h + V_GAP;
        }
    }
    // Sources move to the middle of what they feed, where there is room.
    for k in (0..order.len()).rev() {
        let mut floor = i32::MIN;
        for (i, slot) in order[k].iter().enumerate() {
            let h = size(slot).1;
            let fed = neighbours(&order, &chains, k, slot, Side::After);
            let feeders = neighbours(&order, &chains, k, slot, Side::Before);
            if feeders.is_empty() && !fed.is_empty() {
                let wanted = average(fed.iter().map(|&(c, j)| centre[c][j]));
                let ceiling = order[k]
                    .get(i + 1)
                    .map_or(i32::MAX, |next| centre[k][i + 1] - size(next).1 / 2 - V_GAP);
                centre[k][i] = (wanted - h / 2).max(floor).min(ceiling - h) + h / 2;
            }
            floor = centre[k][i] - h / 2 + h + V_GAP;
        }
    }

    let mut boxes = vec![Rect::default(); graph.nodes.len()];
    for (k, column) in order.iter().enumerate() {
        for (i, slot) in column.iter().enumerate() {
            if let Slot::Node(n) = slot {
                let (w, h) = sizes[*n];
                boxes[*n] = Rect {
                    x: lefts[k] + (widths[k] - w) / 2,
                    y: centre[k][i] - h / 2,
                    w,
                    h,
                };
            }
        }
    }
    let place = |slot: Slot| -> (usize, i32) {
        let k = order.iter().position(|c| c.contains(&slot)).unwrap_or(0);
        let i = order[k].iter().position(|s| *s == slot).unwrap_or(0);
        (k, centre[k][i])
    };
    // Each chain's points, the first hop (from the upstream's column to the
    // next) being the second and third.
    let mut paths: Vec<Vec<(i32, i32)>> = chains
        .iter()
        .map(|chain| {
            let mut points = Vec::new();
            for (step, slot) in chain.iter().enumerate() {
                let (k, y) = place(*slot);
                let (left, right) = match slot {
                    Slot::Node(n) => (boxes[*n].x, boxes[*n].right()),
                    Slot::Through { .. } => (lefts[k], lefts[k] + widths[k]),
                };
                if step > 0 {
                    points.push((lefts[k], y));
                    points.push((left, y));
                }
                if step + 1 < chain.len() {
                    points.push((right, y));
                    points.push((lefts[k] + widths[k], y));
                }
            }
            points
        })
        .collect();
    let mut label_boxes: Vec<Rect> = paths
        .iter()
        .enumerate()
        .map(|(e, points)| label_at(points[1], points[2], labels[e], fan(graph, e)))
        .collect();
    separate_labels(&mut label_boxes, graph, &columns);
    // The line runs level through its label, which is drawn over it.
    let mut routes: Vec<Route> = paths
        .iter_mut()
        .zip(label_boxes)
        .map(|(points, label)| {
            let level = label.y + label.h / 2;
            points.splice(
                2..2,
                [
                    (label.x - LABEL_ROOM / 4, level),
                    (label.right() + LABEL_ROOM / 4, level),
                ],
            );
            points.dedup();
            Route {
                points: std::mem::take(points),
                label,
            }
        })
        .collect();

    // Everything down to leave room for the title, then the legend below.
    let top = boxes
        .iter()
        .chain(routes.iter().map(|r| &r.label))
        .map(|r| r.y)
        .min()
        .unwrap_or(0);
    let shift = MARGIN + TITLE_H - top;
    for b in &mut boxes {
        b.y += shift;
    }
    for r in &mut routes {
        r.label.y += shift;
        for p in &mut r.points {
            p.1 += shift;
        }
    }
    let bottom = boxes
        .iter()
        .chain(routes.iter().map(|r| &r.label))
        .map(|r| r.bottom())
        .max()
        .unwrap_or(MARGIN + TITLE_H);
    let mut legend = Vec::new();
    let mut x = MARGIN;
    let legend_y = bottom + LINE_H * 2;
    for language in graph.languages() {
        legend.push((
            language,
            Rect {
                x,
                y: legend_y,
                w: SWATCH,
                h: SWATCH,
            },
        ));
        let words = crate::graph::model::language_label(language);
        x += SWATCH + CHAR_W + words.chars().count() as i32 * CHAR_W + 2 * CHAR_W;
    }
    let right = boxes
        .iter()
        .chain(routes.iter().map(|r| &r.label))
        .map(|r| r.right())
        .max()
        .unwrap_or(0)
        .max(MARGIN + graph.title.chars().count() as i32 * CHAR_W)
        .max(x);
    Layout {
        width: right + MARGIN,
        height: legend_y + SWATCH + MARGIN,
        title: (MARGIN, MARGIN),
        boxes,
        routes,
        legend,
        columns,
    }
}

/// Each node's column: the longest path to it from a source.
fn columns(nodes: usize, links: &[(usize, usize)]) -> Vec<usize> {
    let mut column = vec![0; nodes];
    let mut waiting: Vec<usize> = (0..nodes)
        .map(|n| links.iter().filter(|l| l.1 == n).count())
        .collect();
    let mut ready: Vec<usize> = (0..nodes).filter(|&n| waiting[n] == 0).collect();
    while let Some(n) = ready.pop() {
        for &(_, to) in links.iter().filter(|l| l.0 == n) {
            column[to] = column[to].max(column[n] + 1);
            waiting[to] -= 1;
            if waiting[to] == 0 {
                ready.push(to);
            }
        }
    }
    column
}

/// The slots of each column, first in pipeline order, and each edge's
/// chain of slots from its upstream to its downstream.
fn slots(columns: &[usize], links: &[(usize, usize)]) -> (Vec<Vec<Slot>>, Vec<Vec<Slot>>) {
    let count = columns.iter().max().map_or(0, |m| m + 1);
    let mut order: Vec<Vec<Slot>> = vec![Vec::new(); count];
    for (n, &k) in columns.iter().enumerate() {
        order[k].push(Slot::Node(n));
    }
    let mut chains = Vec::new();
    for (edge, &(from, to)) in links.iter().enumerate() {
        let mut chain = vec![Slot::Node(from)];
        let passed = columns[from] + 1..columns[to];
        for (column, slots) in order
            .iter_mut()
            .enumerate()
            .take(passed.end)
            .skip(passed.start)
        {
            slots.push(Slot::Through { edge, column });
            chain.push(Slot::Through { edge, column });
        }
        chain.push(Slot::Node(to));
        chains.push(chain);
    }
    (order, chains)
}

#[derive(Clone, Copy)]
enum Side {
    Before,
    After,
}

/// The (column, index) of the slots joined to `slot` in the column before
/// or after `k`.
fn neighbours(
    order: &[Vec<Slot>],
    chains: &[Vec<Slot>],
    k: usize,
    slot: &Slot,
    side: Side,
) -> Vec<(usize, usize)> {
    let Some(other) = (match side {
        Side::Before => k.checked_sub(1),
        Side::After => Some(k + 1).filter(|c| *c < order.len()),
    }) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for chain in chains {
        for pair in chain.windows(2) {
            let joined = match side {
                Side::Before => (pair[1] == *slot).then_some(pair[0]),
                Side::After => (pair[0] == *slot).then_some(pair[1]),
            };
            if let Some(j) = joined.and_then(|s| order[other].iter().position(|o| *o == s)) {
                found.push((other, j));
            }
        }
    }
    found
}

fn average(values: impl Iterator<Item = i32>) -> i32 {
    let (sum, n) = values.fold((0i64, 0i64), |(s, n), v| (s + v as i64, n + 1));
    if n == 0 {
        0
    } else {
        (sum / n) as i32
    }
}

/// Reorders every column by the barycentre of its neighbours, sweeping
/// right then left, and keeps the order with the fewest crossings.
fn arrange(order: &mut [Vec<Slot>], chains: &[Vec<Slot>]) {
    let mut best = order.to_vec();
    let mut fewest = crossings(order, chains);
    for _ in 0..SWEEPS {
        for k in 1..order.len() {
            sort_column(order, chains, k, Side::Before);
        }
        for k in (0..order.len().saturating_sub(1)).rev() {
            sort_column(order, chains, k, Side::After);
        }
        let now = crossings(order, chains);
        if now < fewest {
            fewest = now;
            best = order.to_vec();
        }
    }
    order.clone_from_slice(&best);
}

fn sort_column(order: &mut [Vec<Slot>], chains: &[Vec<Slot>], k: usize, side: Side) {
    // Scaled so that a barycentre between two slots keeps its place.
    let keys: Vec<i64> = order[k]
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let joined = neighbours(order, chains, k, slot, side);
            match joined.is_empty() {
                true => i as i64 * 2,
                false => {
                    let sum: i64 = joined.iter().map(|&(_, j)| j as i64 * 2).sum();
                    sum / joined.len() as i64
                }
            }
        })
        .collect();
    let mut indexed: Vec<(i64, Slot)> = keys.into_iter().zip(order[k].iter().copied()).collect();
    indexed.sort_by_key(|(key, _)| *key);
    order[k] = indexed.into_iter().map(|(_, s)| s).collect();
}

/// How many pairs of connection segments cross between adjacent columns.
fn crossings(order: &[Vec<Slot>], chains: &[Vec<Slot>]) -> usize {
    let position = |slot: &Slot| {
        order
            .iter()
            .enumerate()
            .find_map(|(k, c)| c.iter().position(|s| s == slot).map(|i| (k, i)))
    };
    let segments: Vec<((usize, usize), usize)> = chains
        .iter()
        .flat_map(|chain| chain.windows(2))
        .filter_map(|pair| {
            let (k, a) = position(&pair[0])?;
            let (_, b) = position(&pair[1])?;
            Some(((k, a), b))
        })
        .collect();
    let mut count = 0;
    for (i, ((k1, a1), b1)) in segments.iter().enumerate() {
        for ((k2, a2), b2) in &segments[i + 1..] {
            if k1 == k2 && ((a1 < a2 && b1 > b2) || (a1 > a2 && b1 < b2)) {
                count += 1;
            }
        }
    }
    count
}

/// Where along its first hop a connection's label sits: near the
/// downstream end when its upstream fans out (the hops are further apart
/// there), near the upstream end when its downstream gathers several
/// inputs, else in the middle.
fn fan(graph: &Graph, edge: usize) -> f64 {
    let e = &graph.edges[edge];
    let out = graph.edges.iter().filter(|o| o.from == e.from).count();
    let into = graph.edges.iter().filter(|o| o.to == e.to).count();
    match (out > 1, into > 1) {
        (true, false) => 0.7,
        (false, true) => 0.3,
        _ => 0.5,
    }
}

/// The label's box on the hop from `a` to `b`: in the middle of the gap
/// between the columns, at height fraction `t` of the way.
fn label_at(a: (i32, i32), b: (i32, i32), (w, h): (i32, i32), t: f64) -> Rect {
    let x = (a.0 + b.0) / 2;
    let y = a.1 + ((b.1 - a.1) as f64 * t) as i32;
    Rect {
        x: x - w / 2,
        y: y - h / 2,
        w,
        h,
    }
}

/// Pushes labels of the same gap apart, downwards, where they overlap.
fn separate_labels(labels: &mut [Rect], graph: &Graph, columns: &[usize]) {
    let gaps = columns.iter().max().map_or(0, |m| m + 1);
    for gap in 0..gaps {
        let mut here: Vec<usize> = (0..labels.len())
            .filter(|&e| columns[graph.edges[e].from] == gap)
            .collect();
        here.sort_by_key(|&e| labels[e].y);
        let mut floor = i32::MIN;
        for e in here {
            let label = &mut labels[e];
            label.y = label.y.max(floor);
            floor = label.bottom() + 2;
        }
    }
}
