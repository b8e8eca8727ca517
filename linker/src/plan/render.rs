//! The plan for people: a table (`weld plan`) and a Graphviz graph
//! (`weld plan --dot`), each with the links' estimated costs once they are
//! set.

use super::{Plan, Resolution, Transport};
use crate::diagnostic::plural;
use crate::manifest::Strategy;
use crate::wit;
use indexmap::IndexMap;
use std::fmt::Write as _;

impl Plan {
    /// A human-readable table: component, import, transport, peer, reason
    /// (and the estimated cost, once one is set).
    /// With `all == false`, each component's `wasi:*` imports are folded into
    /// one row, whose reason ends with `folded_hint` (how the caller's user
    /// lists them all) when it is not empty.
    pub fn to_table(&self, all: bool, folded_hint: &str) -> String {
        let costed = self.resolutions.iter().any(|r| r.cost.is_some());
        let measured = self.resolutions.iter().any(|r| r.measured.is_some());
        let mut rows: Vec<Vec<String>> = Vec::new();
        for c in &self.components {
            // Folded per WASI release: a component may import both.
            let mut wasi: std::collections::BTreeMap<wit::WasiRelease, usize> = Default::default();
            for r in self.imports_of(&c.name) {
                if let (false, Transport::Host, Some(release)) =
                    (all, r.transport, wit::host_wasi(&r.import))
                {
                    *wasi.entry(release).or_default() += 1;
                    continue;
                }
                rows.push(Self::row(r, costed, measured));
            }
            for (release, count) in wasi {
                let reason = release.reason();
                let mut row = vec![
                    c.name.clone(),
                    format!(
                        "wasi:*@{}.x ({})",
                        release.version(),
                        plural(count, "interface")
                    ),
                    "host".into(),
                    "-".into(),
                    if folded_hint.is_empty() {
                        reason.into()
                    } else {
                        format!("{reason}; {folded_hint}")
                    },
                ];
                if measured {
                    row.insert(4, "-".into());
                }
                if costed {
                    row.insert(4, "-".into());
                }
                rows.push(row);
            }
        }
        Self::render_table(&rows, costed, measured)
    }

    fn row(r: &Resolution, costed: bool, measured: bool) -> Vec<String> {
        let transport = match (r.transport, r.strategy) {
            (Transport::InProcess, Some(Strategy::HostLinked)) => {
                "in-process (host-linked)".to_string()
            }
            (t, _) => t.to_string(),
        };
        let peer = match (&r.peer, &r.endpoint) {
            (Some(p), Some(e)) if r.provider => format!("{p} (provider) @ {e}"),
            (Some(p), Some(e)) => format!("{p} @ {e}"),
            (Some(p), None) => p.clone(),
            (None, _) => "-".to_string(),
        };
        let mut row = vec![
            r.component.clone(),
            r.import.clone(),
            transport,
            peer,
            r.reason.clone(),
        ];
        if measured {
            row.insert(
                4,
                r.measured
                    .as_ref()
                    .map_or("-".into(), super::cost::MeasuredCost::label),
            );
        }
        if costed {
            row.insert(
                4,
                r.cost
                    .as_ref()
                    .map_or("-".into(), super::cost::LinkCost::label),
            );
        }
        row
    }

    /// Columns separated by two spaces, headers in capitals, no borders:
    /// easy to read and to `grep`/`awk`.
    fn render_table(rows: &[Vec<String>], costed: bool, measured: bool) -> String {
        let mut header = vec!["COMPONENT", "IMPORT", "TRANSPORT", "PEER", "REASON"];
        if measured {
            header.insert(4, "MEASURED");
        }
        if costed {
            header.insert(4, "COST");
        }
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
            .set_header(header)
            .add_rows(rows.iter().cloned());
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        let mut out = String::new();
        for line in table.lines() {
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }

    /// A Graphviz graph: one cluster per host, one node per component, one
    /// edge per link labelled with its transport.
    pub fn to_dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::from("digraph weld {\n  rankdir=LR;\n  node [shape=box];\n");
        let mut hosts: IndexMap<&str, Vec<&str>> = IndexMap::new();
        for c in &self.components {
            hosts
                .entry(c.host.as_str())
                .or_default()
                .push(c.name.as_str());
        }
        for (i, (host, comps)) in hosts.iter().enumerate() {
            let _ = writeln!(
                out,
                "  subgraph cluster_{i} {{\n    label={};",
                q(&format!("host {host}"))
            );
            for c in comps {
                let _ = writeln!(out, "    {};", q(c));
            }
            out.push_str("  }\n");
        }
        for p in &self.providers {
            let _ = writeln!(
                out,
                "  {} [shape=component, style=dashed, label={}];",
                q(&p.name),
                q(&format!("{} (provider)\nhost {}", p.name, p.host))
            );
        }
        for e in &self.exposed {
            let outside = format!("outside {}", e.host);
            let _ = writeln!(
                out,
                "  {} [shape=plaintext, label=\"callers outside the manifest\"];\n  {} -> {} [label={}, style=dotted];",
                q(&outside),
                q(&outside),
                q(&e.component),
                q(&format!("{}\nexposed", e.interface))
            );
        }
        for i in &self.ingress {
            let clients = format!("http {}", i.host);
            let label = i.address.map_or_else(
                || "HTTP clients".to_string(),
                |a| format!("HTTP clients\nhttp://{a}"),
            );
            let _ = writeln!(
                out,
                "  {} [shape=plaintext, label={}];",
                q(&clients),
                q(&label)
            );
            for r in &i.routes {
                let _ = writeln!(
                    out,
                    "  {} -> {} [label={}, style=dotted];",
                    q(&clients),
                    q(&r.component),
                    q(&format!("{}\n{}", r.prefix, r.handler))
                );
            }
        }
        for r in &self.resolutions {
            if let Some(peer) = &r.peer {
                let mut style = match r.transport {
                    Transport::Wrpc => ", style=dashed",
                    Transport::Compose => ", style=bold",
                    _ => "",
                }
                .to_string();
                let mut label = format!("{}\n{}", r.import, r.transport);
                if let Some(cost) = &r.cost {
                    label = format!("{label}\n{}", cost.label());
                    if cost.over_budget == Some(true) {
                        style.push_str(", color=red, fontcolor=red");
                    }
                }
                let _ = writeln!(
                    out,
                    "  {} -> {} [label={}{style}];",
                    q(&r.component),
                    q(peer),
                    q(&label)
                );
            }
        }
        out.push_str("}\n");
        out
    }
}
