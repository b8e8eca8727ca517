//! The unit plan: which of a host's components fuse into one unit, in which
//! order units are instantiated, and which links join them. Pure data from
//! the plan — no wasmtime — so it is unit-tested on its own.
//!
//! * Components joined by **fused** links form one unit (connected
//!   components of the fused-link graph: a union-find).
//! * **Host-linked** links join units; units are ordered callee-first (a
//!   topological order of the host-linked graph), so a caller's slots can be
//!   filled as soon as it is instantiated.
//! * **wrpc** links become remote stubs on the caller's unit.

use super::RuntimeError;
use crate::fuse::fuse_for_runtime;
use crate::manifest::Strategy;
use crate::plan::{Plan, Resolution, Transport};
use indexmap::IndexMap;
use petgraph::graph::DiGraph;
use petgraph::unionfind::UnionFind;

/// A host-linked import: the caller unit's import calls the callee unit's
/// export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostLink {
    /// The calling unit (index into [`UnitPlan::units`]).
    pub caller: usize,
    /// The import, as the caller names it.
    pub import: String,
    /// The called unit.
    pub callee: usize,
    /// The callee's export that satisfies the import.
    pub export: String,
    /// The callee component's name, for call paths.
    pub peer: String,
    /// The importing component (the first, when two members of one fused
    /// unit import it).
    pub component: String,
}

/// How one host's components become units.
#[derive(Debug, Clone)]
pub(crate) struct UnitPlan {
    /// Each unit's members (manifest names), callee-first.
    pub units: Vec<Vec<String>>,
    /// Host-linked imports, one per (caller unit, import).
    pub host_links: Vec<HostLink>,
    /// The `wrpc` resolutions of this host, one per (caller unit, import).
    pub remote: Vec<(usize, Resolution)>,
}

/// The in-process strategy of a resolution under an optional override, or
/// `None` for links that are not in-process.
fn strategy_of(r: &Resolution, force: Option<Strategy>) -> Option<Strategy> {
    match r.transport {
        Transport::InProcess | Transport::Compose => {
            Some(force.unwrap_or(if fuse_for_runtime(r) {
                Strategy::Fused
            } else {
                Strategy::HostLinked
            }))
        }
        _ => None,
    }
}

impl UnitPlan {
    /// Per unit, itself and every unit it reaches through host-linked
    /// imports, in instantiation (callee-first) order.
    pub fn needs(&self) -> Vec<Vec<usize>> {
        (0..self.units.len())
            .map(|start| {
                let mut reached = vec![false; self.units.len()];
                let mut stack = vec![start];
                while let Some(u) = stack.pop() {
                    if std::mem::replace(&mut reached[u], true) {
                        continue;
                    }
                    stack.extend(
                        self.host_links
                            .iter()
                            .filter(|l| l.caller == u)
                            .map(|l| l.callee),
                    );
                }
                (0..self.units.len()).filter(|&u| reached[u]).collect()
            })
            .collect()
    }

    /// The unit plan of `host`'s components; `force` overrides every
    /// in-process link's strategy.
    ///
    /// # Errors
    /// [`RuntimeError`] when the host is not in the plan, a link's peer is not
    /// on the host, or host-linked units import from each other in a loop.
    pub fn new(plan: &Plan, host: &str, force: Option<Strategy>) -> Result<UnitPlan, RuntimeError> {
        let here: IndexMap<&str, usize> = plan
            .components
            .iter()
            .filter(|c| c.host == host)
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let local: Vec<&Resolution> = plan
            .resolutions
            .iter()
            .filter(|r| here.contains_key(r.component.as_str()))
            .collect();
        let peer_index = |r: &Resolution| {
            r.peer
                .as_deref()
                .and_then(|p| here.get(p).copied())
                .ok_or_else(|| RuntimeError::PeerNotHere {
                    component: r.component.clone(),
                    import: r.import.clone(),
                    host: host.to_string(),
                })
        };

        let mut groups = UnionFind::<usize>::new(here.len());
        for r in &local {
            if strategy_of(r, force) == Some(Strategy::Fused) {
                groups.union(here[r.component.as_str()], peer_index(r)?);
            }
        }
        // Units in manifest order of their first member.
        let mut by_root: IndexMap<usize, Vec<String>> = IndexMap::new();
        for (name, i) in &here {
            by_root
                .entry(groups.find(*i))
                .or_default()
                .push(name.to_string());
        }
        let roots: Vec<usize> = by_root.keys().copied().collect();
        let unit_of_component = |i: usize| {
            roots
                .iter()
                .position(|r| *r == groups.find(i))
                .expect("every component has a unit")
        };

        // Callee-first order along host-linked links.
        let mut links: Vec<(usize, &Resolution, usize)> = Vec::new();
        for r in &local {
            if strategy_of(r, force) == Some(Strategy::HostLinked) {
                let caller = unit_of_component(here[r.component.as_str()]);
                let callee = unit_of_component(peer_index(r)?);
                if caller != callee {
                    links.push((caller, r, callee));
                }
            }
        }
        let order = callee_first(roots.len(), &links, host)?;
        let position = |u: usize| order.iter().position(|o| *o == u).expect("ordered");
        let members: Vec<Vec<String>> = by_root.into_values().collect();
        let units = order.iter().map(|u| members[*u].clone()).collect();

        let mut host_links: Vec<HostLink> = Vec::new();
        for (caller, r, callee) in links {
            let link = HostLink {
                caller: position(caller),
                import: r.import.clone(),
                callee: position(callee),
                export: r.export.clone().expect("in-process links have an export"),
                peer: r.peer.clone().expect("in-process links have a peer"),
                component: r.component.clone(),
            };
            // Two members of one fused unit may both import it.
            match host_links
                .iter()
                .find(|l| l.caller == link.caller && l.import == link.import)
            {
                Some(l) if l.callee != link.callee || l.export != link.export => {
                    return Err(RuntimeError::TwoExporters {
                        unit: members[caller].clone(),
                        import: link.import,
                    })
                }
                Some(_) => {}
                None => host_links.push(link),
            }
        }
        let mut remote: Vec<(usize, Resolution)> = Vec::new();
        for r in &local {
            if r.transport != Transport::Wrpc {
                continue;
            }
            let caller = position(unit_of_component(here[r.component.as_str()]));
            if !remote
                .iter()
                .any(|(u, known)| *u == caller && known.import == r.import)
            {
                remote.push((caller, (*r).clone()));
            }
        }
        Ok(UnitPlan {
            units,
            host_links,
            remote,
        })
    }
}

/// Units in Kahn's order along `links` (caller, _, callee): callees first,
/// the lowest unit first among the ready ones, so independent units keep
/// manifest order (stable `weld run` output).
fn callee_first(
    count: usize,
    links: &[(usize, &Resolution, usize)],
    host: &str,
) -> Result<Vec<usize>, RuntimeError> {
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: Vec<_> = (0..count).map(|u| graph.add_node(u)).collect();
    for (caller, _, callee) in links {
        graph.update_edge(nodes[*callee], nodes[*caller], ());
    }
    let mut order: Vec<usize> = Vec::with_capacity(count);
    while order.len() < count {
        let next = (0..count)
            .find(|u| {
                !order.contains(u)
                    && graph
                        .neighbors_directed(nodes[*u], petgraph::Direction::Incoming)
                        .all(|d| order.contains(&graph[d]))
            })
            .ok_or_else(|| RuntimeError::UnitCycle {
                host: host.to_string(),
            })?;
        order.push(next);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedComponent;

    fn plan(components: &[(&str, &str)], links: &[(&str, &str, Transport, Strategy)]) -> Plan {
        Plan {
            manifest: "weld.toml".into(),
            components: components
                .iter()
                .map(|(name, host)| PlannedComponent {
                    name: name.to_string(),
                    host: host.to_string(),
                    path: None,
                    http_out: Vec::new(),
                })
                .collect(),
            resolutions: links
                .iter()
                .map(|(from, to, transport, strategy)| Resolution {
                    component: from.to_string(),
                    import: format!("demo:x/{to}@0.1.0"),
                    transport: *transport,
                    peer: Some(to.to_string()),
                    export: Some(format!("demo:x/{to}@0.1.0")),
                    endpoint: None,
                    strategy: (*transport == Transport::InProcess).then_some(*strategy),
                    allow_trap: false,
                    timeout_ms: None,
                    explicit: false,
                    provider: false,
                    reason: String::new(),
                    cost: None,
                    security: None,
                    observed: false,
                    observe: false,
                    measured: None,
                })
                .collect(),
            providers: Vec::new(),
            exposed: Vec::new(),
            access: Vec::new(),
            ingress: Vec::new(),
            warnings: Vec::new(),
        }
    }

    const IN: Transport = Transport::InProcess;
    const FUSED: Strategy = Strategy::Fused;
    const LINKED: Strategy = Strategy::HostLinked;

    #[test]
    fn fused_links_join_components_into_one_unit() {
        let p = plan(
            &[("a", "h"), ("b", "h"), ("c", "h"), ("d", "h")],
            &[("a", "b", IN, FUSED), ("b", "c", IN, FUSED)],
        );
        let u = UnitPlan::new(&p, "h", None).unwrap();
        assert_eq!(u.units, vec![vec!["a", "b", "c"], vec!["d"]]);
        assert!(u.host_links.is_empty());
    }

    #[test]
    fn host_linked_units_are_ordered_callee_first() {
        let p = plan(
            &[("a", "h"), ("b", "h"), ("c", "h")],
            &[("a", "b", IN, LINKED), ("b", "c", IN, LINKED)],
        );
        let u = UnitPlan::new(&p, "h", None).unwrap();
        assert_eq!(u.units, vec![vec!["c"], vec!["b"], vec!["a"]]);
        assert_eq!(u.host_links.len(), 2);
        for l in &u.host_links {
            assert!(l.callee < l.caller, "{l:?}");
        }
    }

    #[test]
    fn a_unit_needs_itself_and_what_it_reaches() {
        // a → b → c host-linked; d alone.
        let p = plan(
            &[("a", "h"), ("b", "h"), ("c", "h"), ("d", "h")],
            &[("a", "b", IN, LINKED), ("b", "c", IN, LINKED)],
        );
        let u = UnitPlan::new(&p, "h", None).unwrap();
        let index = |name: &str| u.units.iter().position(|m| m[0] == name).unwrap();
        let needs = u.needs();
        let names = |unit: usize| -> Vec<&str> {
            needs[unit]
                .iter()
                .map(|&i| u.units[i][0].as_str())
                .collect()
        };
        assert_eq!(names(index("a")), ["c", "b", "a"]);
        assert_eq!(names(index("b")), ["c", "b"]);
        assert_eq!(names(index("c")), ["c"]);
        assert_eq!(names(index("d")), ["d"]);
    }

    #[test]
    fn a_forced_strategy_overrides_the_plan() {
        let p = plan(&[("a", "h"), ("b", "h")], &[("a", "b", IN, LINKED)]);
        assert_eq!(
            UnitPlan::new(&p, "h", Some(FUSED)).unwrap().units,
            vec![vec!["a", "b"]]
        );
        let p = plan(&[("a", "h"), ("b", "h")], &[("a", "b", IN, FUSED)]);
        assert_eq!(UnitPlan::new(&p, "h", Some(LINKED)).unwrap().units.len(), 2);
    }

    #[test]
    fn other_hosts_and_remote_links_stay_out_of_units() {
        let p = plan(
            &[("a", "h"), ("b", "other")],
            &[("a", "b", Transport::Wrpc, FUSED)],
        );
        let u = UnitPlan::new(&p, "h", None).unwrap();
        assert_eq!(u.units, vec![vec!["a"]]);
        assert_eq!(u.remote.len(), 1);
        assert_eq!(u.remote[0].0, 0);
    }

    #[test]
    fn a_host_linked_cycle_is_an_error() {
        let p = plan(
            &[("a", "h"), ("b", "h")],
            &[("a", "b", IN, LINKED), ("b", "a", IN, LINKED)],
        );
        assert!(matches!(
            UnitPlan::new(&p, "h", None),
            Err(RuntimeError::UnitCycle { .. })
        ));
    }
}
