//! `plexus graph --format json`: the graph with the layout plexus draws it
//! by, for a program that draws it itself (the dashboard's page) and for
//! scripts: each processor's box and each connection's path, with the
//! consuming input's figures for a running runtime
//! (`docs/json/graph.schema.json`).

use serde_json::{json, Value};

use crate::graph::layout::layout;
use crate::graph::model::Graph;

/// `{"pipeline", "width", "height", "nodes": [...], "edges": [...]}`.
pub fn json(graph: &Graph) -> Value {
    let laid = layout(graph);
    let nodes: Vec<Value> = graph
        .nodes
        .iter()
        .zip(&laid.boxes)
        .map(|(node, rect)| {
            json!({
                "processor": node.id,
                "type": node.type_name,
                "language": node.language,
                "worker": node.group.as_deref().unwrap_or(&node.id),
                "paused": node.paused,
                "x": rect.x, "y": rect.y, "width": rect.w, "height": rect.h,
            })
        })
        .collect();
    let edges: Vec<Value> = graph
        .edges
        .iter()
        .zip(&laid.routes)
        .map(|(edge, route)| {
            let points: Vec<[i32; 2]> = route.points.iter().map(|&(x, y)| [x, y]).collect();
            json!({
                "from": graph.nodes[edge.from].id,
                "from_port": edge.from_port,
                "to": graph.nodes[edge.to].id,
                "to_port": edge.to_port,
                "schema": edge.schema,
                "points": points,
                // A file has no figures: no rate, nothing dropped.
                "fps": edge.flow.map(|f| f.fps),
                "dropped": edge.flow.map_or(0, |f| f.dropped),
                "latency_us": edge.flow.and_then(|f| f.latency_us),
            })
        })
        .collect();
    json!({
        "pipeline": graph.pipeline,
        "width": laid.width,
        "height": laid.height,
        "nodes": nodes,
        "edges": edges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::Flow;
    use crate::graph::tests::fan_in_out;
    use ipc_schemas::LatencyUs;

    #[test]
    fn every_node_and_edge_is_placed_with_its_figures() {
        let mut graph = fan_in_out();
        graph.edges[0].flow = Some(Flow {
            fps: 30.0,
            dropped: 2,
            latency_us: Some(LatencyUs { p50: 150, p99: 900 }),
        });
        let value = json(&graph);
        assert_eq!(value["pipeline"], "fan");
        let nodes = value["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[3]["worker"], "effects");
        assert_eq!(nodes[0]["worker"], "cam");
        for node in nodes {
            let right = node["x"].as_i64().unwrap() + node["width"].as_i64().unwrap();
            assert!(right <= value["width"].as_i64().unwrap(), "{node}");
        }
        let edges = value["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 5);
        assert_eq!(edges[0]["fps"], 30.0);
        assert_eq!(edges[0]["latency_us"]["p99"], 900);
        assert_eq!(edges[1]["fps"], Value::Null);
        assert_eq!(edges[1]["dropped"], 0);
        assert!(edges
            .iter()
            .all(|e| e["points"].as_array().unwrap().len() >= 2));
    }
}
