//! The plan's links into a served function: which components call it,
//! from which hosts. A served call's span names them, since TCP, Unix
//! sockets and QUIC streams carry no trace context from the caller: the
//! link and the caller's host are what the server can still say.

use crate::plan::{Plan, Transport};
use opentelemetry::{KeyValue, Value};

/// The callers (component, host) the plan links to one served interface
/// of one component, over wRPC.
#[derive(Debug, Clone, Default)]
pub(crate) struct InboundLinks {
    callee: String,
    callers: Vec<(String, String)>,
}

impl InboundLinks {
    /// The links of `plan` into `instance` of `component`.
    pub(crate) fn of(plan: &Plan, component: &str, instance: &str) -> InboundLinks {
        let callers = plan
            .resolutions
            .iter()
            .filter(|r| {
                r.transport == Transport::Wrpc
                    && r.peer.as_deref() == Some(component)
                    && r.export.as_deref().unwrap_or(&r.import) == instance
            })
            .map(|r| {
                let host = plan.host_of(&r.component).unwrap_or_default();
                (r.component.clone(), host.to_string())
            })
            .collect();
        InboundLinks {
            callee: component.to_string(),
            callers,
        }
    }

    /// Adds to `attributes` the link a call came across: the one link when
    /// the plan has one (or one from the host the caller's certificate
    /// names, `identity`), every candidate (`weld.links`) otherwise.
    pub(crate) fn describe(&self, identity: Option<&str>, attributes: &mut Vec<KeyValue>) {
        let from_identity: Vec<&(String, String)> = self
            .callers
            .iter()
            .filter(|(_, host)| Some(host.as_str()) == identity)
            .collect();
        let candidates: Vec<&(String, String)> = if from_identity.is_empty() {
            self.callers.iter().collect()
        } else {
            from_identity
        };
        match candidates.as_slice() {
            [] => {}
            [(caller, host)] => {
                attributes.push(KeyValue::new(
                    "weld.link",
                    format!("{caller} → {}", self.callee),
                ));
                attributes.push(KeyValue::new("weld.caller", caller.clone()));
                attributes.push(KeyValue::new("weld.caller_host", host.clone()));
            }
            many => {
                let links = many
                    .iter()
                    .map(|(caller, host)| format!("{caller} ({host}) → {}", self.callee).into())
                    .collect();
                attributes.push(KeyValue::new(
                    "weld.links",
                    Value::Array(opentelemetry::Array::String(links)),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(callers: &[(&str, &str)]) -> InboundLinks {
        InboundLinks {
            callee: "back".into(),
            callers: callers
                .iter()
                .map(|(c, h)| (c.to_string(), h.to_string()))
                .collect(),
        }
    }

    fn said(l: &InboundLinks, identity: Option<&str>) -> Vec<String> {
        let mut a = Vec::new();
        l.describe(identity, &mut a);
        a.iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect()
    }

    #[test]
    fn one_link_is_named_and_many_are_listed_unless_an_identity_picks_one() {
        let one = links(&[("front", "a")]);
        assert_eq!(
            said(&one, None),
            [
                "weld.link=front → back",
                "weld.caller=front",
                "weld.caller_host=a"
            ]
        );
        let two = links(&[("front", "a"), ("side", "b")]);
        assert_eq!(said(&two, None).len(), 1);
        assert!(said(&two, None)[0].starts_with("weld.links="));
        assert_eq!(said(&two, Some("b"))[0], "weld.link=side → back");
        assert_eq!(said(&two, Some("stranger")).len(), 1);
        assert!(said(&links(&[]), None).is_empty());
    }
}
