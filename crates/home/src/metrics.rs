//! What the bridge counts for Prometheus: directives answered, events delivered, LWA
//! refreshes, the MQTT broker's connection and its messages.
//!
//! The counters live for the whole process ([`metrics`]) so that every part records without
//! being handed a registry; the binary registers them once ([`Metrics::register`]) and serves
//! them at `/metrics`. Every label value is rask's own word or one of Alexa's names that rask
//! knows, never a string from the network as sent: a label per distinct value would let a
//! caller grow the series without bound.

use std::sync::{LazyLock, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A directive's interface, name and how it was answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectiveLabels {
    /// `Alexa.PowerController`, or `unknown` for one rask does not handle or could not read.
    pub namespace: String,
    /// `TurnOn`, or `unknown`.
    pub name: String,
    /// `ok`, or the `ErrorResponse` type sent (`NO_SUCH_ENDPOINT`, ...).
    pub outcome: &'static str,
}

/// One delivery attempt's kind, region and outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// The event (`DoorbellPress`, `ChangeReport`, ...) or the out-of-session call (`message`,
    /// `event`).
    pub kind: String,
    /// `NA`, `EU`, `FE`, or `unknown` when the user's region was not read.
    pub region: &'static str,
    /// `delivered`, `retry`, `dropped`, `refused`, `revoked` or `alert` for events; `sent`,
    /// `retry` or `failed` for out-of-session calls.
    pub outcome: &'static str,
}

/// An outcome alone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What happened.
    pub outcome: &'static str,
}

/// Which way an MQTT message went.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabels {
    /// `in` (a device's state or press) or `out` (a command published).
    pub direction: &'static str,
}

/// The bridge's counters and gauges, and the last answer of each outside party (for the
/// console's health words).
#[derive(Default)]
pub struct Metrics {
    directives: Family<DirectiveLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    lwa_refreshes: Family<OutcomeLabels, Counter>,
    mqtt_connected: Gauge,
    mqtt_messages: Family<DirectionLabels, Counter>,
    last: Mutex<LastSeen>,
}

/// One party's last answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// When (Unix ms).
    pub at: i64,
    /// In a word: `delivered`, `refreshed`, `accepted`, `refused`, ...
    pub outcome: String,
    /// What it said, cut to a loggable length.
    pub detail: String,
}

impl Seen {
    fn now(outcome: &str, detail: &str) -> Seen {
        Seen {
            at: rask_store::now_ms(),
            outcome: outcome.to_owned(),
            detail: rask_model::limits::logged(detail).into_owned(),
        }
    }
}

/// The last answers this instance has had, since it started.
#[derive(Debug, Clone, Default)]
pub struct LastSeen {
    /// Login with Amazon: a user's token refreshed or a grant code exchanged.
    pub lwa: Option<Seen>,
    /// Login with Amazon: the skill's own credentials tried (`accepted` or why not).
    pub credentials: Option<Seen>,
    /// The last delivery attempt to each region's Event Gateway (`NA`, `EU`, `FE`).
    pub gateways: Vec<(&'static str, Seen)>,
    /// The last directive that came through the forwarder, and its AWS region.
    pub forwarder: Option<Seen>,
}

/// The process's one set.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);
    &METRICS
}

/// The label for a region as stored (`NA`, `EU`, `FE`).
pub fn region_label(region: &str) -> &'static str {
    rask_model::region::Region::parse(region).map_or("unknown", |r| r.as_str())
}

impl Metrics {
    /// Adds every series to `registry` (docs/metrics.md lists them).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "rask_directives",
            "Smart-home directives answered, by interface, name and outcome",
            self.directives.clone(),
        );
        registry.register(
            "rask_deliveries",
            "Delivery attempts to Amazon, by kind, region and outcome",
            self.deliveries.clone(),
        );
        registry.register(
            "rask_lwa_refreshes",
            "Refreshes of users' Login with Amazon tokens, by outcome",
            self.lwa_refreshes.clone(),
        );
        registry.register(
            "rask_mqtt_connected",
            "1 while the MQTT broker is connected, 0 otherwise",
            self.mqtt_connected.clone(),
        );
        registry.register(
            "rask_mqtt_messages",
            "MQTT messages received from devices and published to them",
            self.mqtt_messages.clone(),
        );
    }

    /// A directive was answered.
    pub fn directive(&self, namespace: &str, name: &str, outcome: &'static str) {
        self.directives
            .get_or_create(&DirectiveLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                outcome,
            })
            .inc();
    }

    /// An attempt to deliver `kind` to `region` ended in `outcome`.
    pub fn delivery(&self, kind: &str, region: &'static str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                kind: kind.to_owned(),
                region,
                outcome,
            })
            .inc();
    }

    /// A user's LWA token refresh ended in `outcome` (`refreshed`, `refused`, `failed`).
    pub fn lwa_refresh(&self, outcome: &'static str, detail: &str) {
        self.lwa_refreshes.get_or_create(&OutcomeLabels { outcome }).inc();
        self.lwa_answered(outcome, detail);
    }

    /// What each outside party last answered.
    pub fn last_seen(&self) -> LastSeen {
        self.last.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn see(&self, f: impl FnOnce(&mut LastSeen)) {
        if let Ok(mut l) = self.last.lock() {
            f(&mut l);
        }
    }

    /// Login with Amazon answered (`refreshed`, `exchanged`, `refused`, `failed`).
    pub fn lwa_answered(&self, outcome: &str, detail: &str) {
        self.see(|l| l.lwa = Some(Seen::now(outcome, detail)));
    }

    /// The skill's own credentials were tried at Login with Amazon.
    pub fn credentials_tried(&self, outcome: &str, detail: &str) {
        self.see(|l| l.credentials = Some(Seen::now(outcome, detail)));
    }

    /// A delivery attempt to `region`'s Event Gateway ended in `outcome`.
    pub fn gateway_answered(&self, region: &'static str, outcome: &str, detail: &str) {
        let seen = Seen::now(outcome, detail);
        self.see(|l| match l.gateways.iter_mut().find(|(r, _)| *r == region) {
            Some((_, s)) => *s = seen,
            None => {
                l.gateways.push((region, seen));
                l.gateways.sort_by_key(|(r, _)| *r);
            }
        });
    }

    /// A directive came through the forwarder (`accepted`, with its AWS region) or was refused.
    pub fn forwarder_seen(&self, outcome: &str, detail: &str) {
        self.see(|l| l.forwarder = Some(Seen::now(outcome, detail)));
    }

    /// The broker connection came up or went down.
    pub fn mqtt_connected(&self, up: bool) {
        self.mqtt_connected.set(i64::from(up));
    }

    /// `n` MQTT messages went `direction` (`in` or `out`).
    pub fn mqtt_messages(&self, direction: &'static str, n: u64) {
        self.mqtt_messages
            .get_or_create(&DirectionLabels { direction })
            .inc_by(n);
    }
}
