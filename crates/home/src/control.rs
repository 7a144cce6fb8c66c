//! Control directives at the edge: a directive's target ([`crate::capabilities::command`]) is
//! published on the device's command topic, and Alexa is answered once the device confirms it
//! on its state topic, with the device's properties as the response's context.
//!
//! - Not confirmed within the device's `confirm_timeout`: `ENDPOINT_UNREACHABLE`; a lock that
//!   reports itself jammed is answered at once, `lockState` `JAMMED` in the context.
//! - The broker down: `BRIDGE_UNREACHABLE`, and nothing is queued to surprise anyone later.
//! - A device configured as slow: `DeferredResponse` at once, then the `Alexa.Response` (or the
//!   `ErrorResponse`) through the Event Gateway, for the user who asked.
//! - A device without a state topic is trusted once the MQTT client has the command; one without a
//!   command topic (the demo's) is virtual: the command is its new state.
//!
//! A custom skill sets a device too ([`Controller::set`], from words such as `on` or `40`),
//! carried out the same way but never deferred: its answer is what the user hears.

use std::sync::Arc;

use rask_model::smarthome::{CauseType, Directive, ErrorPayload, ErrorType, EventMessage};
use rask_store::outbox::NewEvent;
use rask_store::{Store, now_ms};
use serde_json::Value;
use tokio::sync::Notify;

use crate::capabilities::{Command, DeviceProperty, POSITION_MODES, command};
use crate::devices::Device;
use crate::mqtt::MqttPublisher;
use crate::reports::properties;
use crate::state::DeviceStates;

/// How long the result of a deferred command is worth sending.
pub const DEFERRED_LIFE: std::time::Duration = std::time::Duration::from_secs(60);

/// Carries out control directives.
#[derive(Clone)]
pub struct Controller {
    store: Store,
    states: DeviceStates,
    publisher: Option<MqttPublisher>,
    delivery: Arc<Notify>,
}

impl Controller {
    /// A controller publishing through `publisher` (none without `[mqtt]`); `delivery` wakes
    /// the delivery worker for deferred answers.
    pub fn new(
        store: Store,
        states: DeviceStates,
        publisher: Option<MqttPublisher>,
        delivery: Arc<Notify>,
    ) -> Self {
        Controller {
            store,
            states,
            publisher,
            delivery,
        }
    }

    /// The device's state, for `ReportState`.
    pub async fn state_report(&self, device: &Device, d: &Directive) -> EventMessage {
        let state = match self.states.read(&device.id).await {
            Ok(s) => s,
            Err(e) => return internal(d, e),
        };
        if !device.kind.properties().is_empty() && state.properties.is_empty() {
            return EventMessage::error(
                d,
                ErrorPayload::new(
                    ErrorType::EndpointUnreachable,
                    format!("rask has heard nothing from {} yet", device.id),
                ),
            );
        }
        EventMessage::state_report(d, properties(device, &state, now_ms()))
    }

    /// Answers a control directive for `device` from `user_id`.
    pub async fn handle(&self, device: &Device, d: &Directive, user_id: &str) -> EventMessage {
        let state = match self.states.read(&device.id).await {
            Ok(s) => s,
            Err(e) => return internal(d, e),
        };
        let current = |p: crate::capabilities::DeviceProperty| {
            state
                .value(p.field())
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
        };
        let cmd = match command(device.kind.properties(), d, current) {
            Ok(c) => c,
            Err(refusal) => {
                tracing::info!(device = %device.id, "directive refused: {:?}", refusal.message.as_deref().map(rask_model::limits::logged));
                return EventMessage::error(d, refusal);
            }
        };
        if device.wiring.slow && device.wiring.command_topic.is_some() {
            let seconds = device.wiring.confirm_timeout.as_secs_f64().ceil() as u32;
            let me = self.clone();
            let (device, directive, user) = (device.clone(), d.clone(), user_id.to_owned());
            tokio::spawn(async move { me.finish_deferred(&device, &directive, &user, cmd).await });
            return EventMessage::deferred(d, Some(seconds.max(1)));
        }
        // The state read for the command is done with: no copy is made for the assumed one.
        drop(state);
        match self.execute(device, &cmd).await {
            Ok(()) => self.response(device, d).await,
            Err(e) => EventMessage::error(d, e),
        }
    }

    async fn response(&self, device: &Device, d: &Directive) -> EventMessage {
        match self.states.read(&device.id).await {
            Ok(state) => EventMessage::response(d, properties(device, &state, now_ms())),
            Err(e) => internal(d, e),
        }
    }

    /// Publishes the command and waits for the device to confirm it.
    async fn execute(&self, device: &Device, cmd: &Command) -> Result<(), ErrorPayload> {
        let w = &device.wiring;
        let Some(topic) = &w.command_topic else {
            return self.assume(device, cmd).await;
        };
        let Some(publisher) = &self.publisher else {
            return Err(ErrorPayload::new(
                ErrorType::BridgeUnreachable,
                "rask has no MQTT broker configured ([mqtt])",
            ));
        };
        let confirmation = w
            .state_topic
            .as_ref()
            .map(|_| self.states.expect(&device.id, cmd.property, cmd.target.clone()));
        let payload = w.command_payload(cmd.property, &cmd.target);
        if let Err(e) = publisher.publish(topic, payload).await {
            tracing::warn!(device = %device.id, "command not published: {e}");
            return Err(ErrorPayload::new(ErrorType::BridgeUnreachable, e.to_string()));
        }
        let Some(confirmation) = confirmation else {
            return self.assume(device, cmd).await;
        };
        if confirmation.wait(w.confirm_timeout).await {
            tracing::info!(device = %device.id, property = cmd.property.field(), target = %cmd.target, "command confirmed");
            Ok(())
        } else {
            tracing::warn!(
                device = %device.id,
                "the device did not confirm {} = {} on its state topic within {} ms",
                cmd.property.field(),
                cmd.target,
                w.confirm_timeout.as_millis()
            );
            Err(ErrorPayload::new(
                ErrorType::EndpointUnreachable,
                format!(
                    "{} did not confirm {} = {} within {} ms",
                    device.id,
                    cmd.property.field(),
                    cmd.target,
                    w.confirm_timeout.as_millis()
                ),
            ))
        }
    }

    /// Takes the target as the device's state: it cannot say otherwise. Written behind: the
    /// answer is in memory at once, and an assumption lost in a crash is no lie told later.
    /// A virtual device (no command topic) has no other source of state: each of its other
    /// controllable properties with no value yet is taken at rest, so that the answer carries
    /// every property it declares, as Works with Alexa asks. A value already stored (a
    /// webhook's) is never replaced; one written between this read and this write would be
    /// (the window of one command, on a device a webhook also writes).
    async fn assume(&self, device: &Device, cmd: &Command) -> Result<(), ErrorPayload> {
        let mut values = vec![(cmd.property, cmd.target.clone())];
        if device.wiring.command_topic.is_none() {
            let state = self.states.read(&device.id).await.map_err(|e| {
                ErrorPayload::new(
                    ErrorType::InternalError,
                    format!("the state could not be read: {e}"),
                )
            })?;
            values.extend(
                device
                    .kind
                    .properties()
                    .iter()
                    .filter(|p| **p != cmd.property && state.value(p.field()).is_none())
                    .filter_map(|p| p.at_rest().map(|v| (*p, v))),
            );
        }
        self.states
            .record_behind(&device.id, values, CauseType::VoiceInteraction, now_ms())
            .await
            .map(|_| ())
            .map_err(|e| {
                ErrorPayload::new(
                    ErrorType::InternalError,
                    format!("the state could not be stored: {e}"),
                )
            })
    }

    /// Sets `device`'s `property` to what `words` say (`on`, `off`, `40`, `locked`, ...), as a
    /// custom skill's intent asks: published and confirmed as a directive's command is.
    pub async fn set(
        &self,
        device: &Device,
        property: DeviceProperty,
        words: &str,
    ) -> Result<(), ErrorPayload> {
        let cmd = spoken_command(device.kind.properties(), property, words)?;
        tracing::info!(device = %device.id, property = property.field(), target = %cmd.target, "set by a custom skill");
        self.execute(device, &cmd).await
    }

    /// Carries out a deferred command and sends its answer through the Event Gateway.
    async fn finish_deferred(&self, device: &Device, d: &Directive, user_id: &str, cmd: Command) {
        let (answer, kind) = match self.execute(device, &cmd).await {
            Ok(()) => (self.response(device, d).await, "Response"),
            Err(e) => (EventMessage::error(d, e), "ErrorResponse"),
        };
        let now = now_ms();
        let event = NewEvent {
            id: rask_store::row_id(),
            user_id: user_id.to_owned(),
            endpoint_id: device.id.clone(),
            kind: kind.into(),
            event: serde_json::to_string(&answer).unwrap_or_default(),
            created_at: now,
            expires_at: now + DEFERRED_LIFE.as_millis() as i64,
        };
        match self.store.enqueue(&[event]).await {
            Ok(()) => self.delivery.notify_one(),
            Err(e) => {
                tracing::error!(device = %device.id, error = %e, "the deferred answer could not be queued")
            }
        }
    }
}

fn internal(d: &Directive, e: rask_store::StoreError) -> EventMessage {
    tracing::error!(error = %e, "device state could not be read");
    EventMessage::error(
        d,
        ErrorPayload::new(ErrorType::InternalError, "the device state could not be read"),
    )
}

/// The command that sets `property` to what `words` say, for a device with `properties`:
/// `on`/`off` for power, a whole percent for brightness and position (`40`, `40%`), a mode's
/// name (`Position.Up` or `up`), `lock`/`locked`/`unlock`/`unlocked`. Sensors cannot be set.
pub fn spoken_command(
    properties: &[DeviceProperty],
    property: DeviceProperty,
    words: &str,
) -> Result<Command, ErrorPayload> {
    let words = words.trim();
    let lower = words.to_ascii_lowercase();
    if !properties.contains(&property) {
        return Err(ErrorPayload::new(
            ErrorType::InvalidDirective,
            format!("this device has no {}", property.field()),
        ));
    }
    let invalid = |what: &str| {
        ErrorPayload::new(
            ErrorType::InvalidValue,
            format!("{:?} is not {what}", rask_model::limits::cut_to(words, 40)),
        )
    };
    let target = match property {
        DeviceProperty::Power => match lower.as_str() {
            "on" => Value::from("ON"),
            "off" => Value::from("OFF"),
            _ => return Err(invalid("on or off")),
        },
        DeviceProperty::Brightness | DeviceProperty::Position => {
            let n = lower
                .trim_end_matches("percent")
                .trim_end()
                .trim_end_matches('%')
                .trim_end()
                .parse::<i64>()
                .map_err(|_| invalid("a whole percent"))?;
            if !(0..=100).contains(&n) {
                return Err(ErrorPayload::value_out_of_range(
                    format!("{n} is outside 0–100"),
                    0.0,
                    100.0,
                ));
            }
            Value::from(n)
        }
        DeviceProperty::Mode => POSITION_MODES
            .iter()
            .find(|m| m.eq_ignore_ascii_case(words) || m[9..].eq_ignore_ascii_case(words))
            .map(|m| Value::from(*m))
            .ok_or_else(|| invalid("up, down or stop"))?,
        DeviceProperty::Lock => match lower.as_str() {
            "lock" | "locked" => Value::from("LOCKED"),
            "unlock" | "unlocked" => Value::from("UNLOCKED"),
            _ => return Err(invalid("locked or unlocked")),
        },
        DeviceProperty::Contact | DeviceProperty::Motion | DeviceProperty::Temperature => {
            return Err(ErrorPayload::new(
                ErrorType::InvalidDirective,
                format!("{} is sensed, not set", property.field()),
            ));
        }
    };
    Ok(Command { property, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(property: DeviceProperty, words: &str) -> Result<Value, ErrorType> {
        spoken_command(&DeviceProperty::ALL, property, words)
            .map(|c| c.target)
            .map_err(|e| e.kind)
    }

    #[test]
    fn words_become_alexa_values() {
        use DeviceProperty::*;
        assert_eq!(set(Power, " On "), Ok(Value::from("ON")));
        assert_eq!(set(Power, "off"), Ok(Value::from("OFF")));
        assert_eq!(set(Power, "maybe"), Err(ErrorType::InvalidValue));
        assert_eq!(set(Brightness, "40%"), Ok(Value::from(40)));
        assert_eq!(set(Position, "100 percent"), Ok(Value::from(100)));
        assert_eq!(set(Brightness, "140"), Err(ErrorType::ValueOutOfRange));
        assert_eq!(set(Brightness, "bright"), Err(ErrorType::InvalidValue));
        assert_eq!(set(Mode, "up"), Ok(Value::from("Position.Up")));
        assert_eq!(set(Mode, "Position.Stop"), Ok(Value::from("Position.Stop")));
        assert_eq!(set(Mode, "sideways"), Err(ErrorType::InvalidValue));
        assert_eq!(set(Lock, "Locked"), Ok(Value::from("LOCKED")));
        assert_eq!(set(Lock, "unlock"), Ok(Value::from("UNLOCKED")));
        assert_eq!(set(Temperature, "20"), Err(ErrorType::InvalidDirective));
        assert_eq!(
            spoken_command(&[DeviceProperty::Power], DeviceProperty::Brightness, "4").map_err(|e| e.kind),
            Err(ErrorType::InvalidDirective),
            "a light without brightness"
        );
    }
}

#[cfg(test)]
mod virtual_devices {
    use super::*;
    use crate::devices::{Device, DeviceKind};
    use rask_model::smarthome::DirectiveMessage;
    use rask_store::device_state::Hearing;
    use serde_json::json;

    fn turn_on(endpoint: &str) -> Directive {
        serde_json::from_value::<DirectiveMessage>(json!({"directive": {
            "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "payloadVersion": "3",
                       "messageId": "m", "correlationToken": "c"},
            "endpoint": {"scope": {"type": "BearerToken", "token": "t"}, "endpointId": endpoint},
            "payload": {}}}))
        .unwrap()
        .directive
    }

    fn reported(answer: &EventMessage) -> Vec<(String, Value)> {
        let v = serde_json::to_value(answer).unwrap();
        v["context"]["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_owned(), p["value"].clone()))
            .collect()
    }

    #[tokio::test]
    async fn a_virtual_light_never_heard_of_answers_with_every_property_and_keeps_what_it_was_told() {
        let store = Store::connect(&rask_store::testing::sqlite_url()).await.unwrap();
        let states = DeviceStates::new(store.clone());
        let controller = Controller::new(store, states.clone(), None, Arc::new(Notify::new()));
        let fresh = Device::new("hall", "Hall", "", DeviceKind::Light);
        let on = controller.handle(&fresh, &turn_on("hall"), "u").await;
        let props = reported(&on);
        assert!(props.contains(&("powerState".into(), json!("ON"))), "{props:?}");
        assert!(
            props.contains(&("brightness".into(), json!(100))),
            "at rest: {props:?}"
        );

        // A value set before (a state webhook, say) is never replaced by a resting one.
        let dimmed = Device::new("porch", "Porch", "", DeviceKind::Light);
        states
            .record(
                "porch",
                vec![(DeviceProperty::Brightness, json!(30))],
                CauseType::PhysicalInteraction,
                now_ms(),
                Hearing::Now,
            )
            .await
            .unwrap();
        let on = controller.handle(&dimmed, &turn_on("porch"), "u").await;
        assert!(
            reported(&on).contains(&("brightness".into(), json!(30))),
            "{:?}",
            reported(&on)
        );

        // One that a webhook told only its power still gets its brightness at rest.
        let told = Device::new("attic", "Attic", "", DeviceKind::Light);
        states
            .record(
                "attic",
                vec![(DeviceProperty::Power, json!("OFF"))],
                CauseType::PhysicalInteraction,
                now_ms(),
                Hearing::Now,
            )
            .await
            .unwrap();
        let on = controller.handle(&told, &turn_on("attic"), "u").await;
        assert!(
            reported(&on).contains(&("brightness".into(), json!(100))),
            "{:?}",
            reported(&on)
        );
    }
}
