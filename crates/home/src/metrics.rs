//! What the bridge counts for Prometheus: directives answered, events delivered, LWA
//! refreshes, the MQTT broker's connection and its messages.
//!
//! The counters live for the whole process ([`metrics`]) so that every part records without
//! being handed a registry; the binary registers them once ([`Metrics::register`]) and serves
//! them at `/metrics`. Every label value is rask's own word or one of Alexa's names that rask
//! knows, never a string from the network as sent: a label per distinct value would let a
//! caller grow the series without bound.

use std::sync::LazyLock;

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

/// The bridge's counters and gauges.
#[derive(Default)]
pub struct Metrics {
    directives: Family<DirectiveLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    lwa_refreshes: Family<OutcomeLabels, Counter>,
    mqtt_connected: Gauge,
    mqtt_messages: Family<DirectionLabels, Counter>,
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
    pub fn lwa_refresh(&self, outcome: &'static str) {
        self.lwa_refreshes.get_or_create(&OutcomeLabels { outcome }).inc();
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
