//! The eight Proactive Events schemas Amazon publishes, field by field: which payload fields
//! each needs, the values Amazon allows, and which must be given per locale (as
//! `localizedattribute:KEY`, with `KEY` in every `localizedAttributes` entry). Source:
//! <https://developer.amazon.com/docs/smapi/schemas-for-proactive-events.html>.
//!
//! The checks are as strict as the page is clear, and no stricter: a field the page shows
//! without saying it is required is checked only when given.
//!
//! Checked on 2026-12-07 against what could be reached of Amazon's schema page (its list of
//! schemas and locales), Amazon's SDK (`alexa-apis-for-python`: the request, the audience,
//! `referenceId`) and cookbook samples, and for the field tables four independent libraries
//! (Jovo, Voxa, Alexa.NET.ProactiveEvents, ask-utils), which agree on every value listed here:
//! sixteen garbage types (`CLOTHING` among them) and four weather alert types. `alertType` is
//! required as Jovo's table and the typed libraries have it (stricter than the page is known
//! to be: the one exception to the rule above, on their word). Left as first written where the sources disagree or are silent: a
//! `referenceId` may hold `-` (Amazon's SDK text says alphanumerics and `~`, Amazon's examples
//! use hyphens), `expiryTime` is measured from now, and OrderStatus and SocialGameInvite refuse
//! locales other than en-US (the page says so; one of Amazon's samples adds en-GB).

use serde_json::{Map, Value};

use crate::check::Finding;
use crate::proactive::LOCALIZED_PREFIX;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// Text that must be given per locale: `localizedattribute:KEY`, this `KEY` suggested.
    Localized(&'static str),
    /// Text, literal or per locale.
    TextOrLocalized(&'static str),
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A non-empty list of these words.
    ListOf(&'static [&'static str]),
    /// A whole number, zero or more.
    Count,
    /// An ISO-8601 date-time.
    DateTime,
}

/// One payload field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its path in the payload, dotted: `state.status`.
    pub path: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Whether the schema needs it.
    pub required: bool,
}

/// A schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    /// `AMAZON.OrderStatus.Updated`.
    pub name: &'static str,
    /// Its fields.
    pub fields: &'static [Field],
    /// The only locales it is offered in, when Amazon limits it.
    pub locales: Option<&'static [&'static str]>,
}

const fn req(path: &'static str, kind: Kind) -> Field {
    Field {
        path,
        kind,
        required: true,
    }
}

const fn opt(path: &'static str, kind: Kind) -> Field {
    Field {
        path,
        kind,
        required: false,
    }
}

/// `AMAZON.OrderStatus.Updated`'s `state.status`.
pub const ORDER_STATUSES: &[&str] = &[
    "PREORDER_RECEIVED",
    "ORDER_RECEIVED",
    "ORDER_PREPARING",
    "ORDER_SHIPPED",
    "ORDER_OUT_FOR_DELIVERY",
    "ORDER_DELIVERED",
];

/// `AMAZON.TrashCollectionAlert.Activated`'s `alert.garbageTypes`: the sixteen that the
/// published libraries agree on (Amazon's own field table could not be read; the module's
/// comment says what was checked).
pub const GARBAGE_TYPES: &[&str] = &[
    "BOTTLES",
    "BULKY",
    "BURNABLE",
    "CANS",
    "CLOTHING",
    "COMPOSTABLE",
    "CRUSHABLE",
    "GARDEN_WASTE",
    "GLASS",
    "HAZARDOUS",
    "HOME_APPLIANCES",
    "KITCHEN_WASTE",
    "LANDFILL",
    "PET_BOTTLES",
    "RECYCLABLE_PLASTICS",
    "WASTE_PAPER",
];

const DAYS: &[&str] = &[
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
];

/// Every schema.
pub const SCHEMAS: &[Schema] = &[
    Schema {
        name: "AMAZON.WeatherAlert.Activated",
        fields: &[
            req("weatherAlert.source", Kind::Localized("source")),
            req(
                "weatherAlert.alertType",
                Kind::OneOf(&["TORNADO", "HURRICANE", "SNOW_STORM", "THUNDER_STORM"]),
            ),
        ],
        locales: None,
    },
    Schema {
        name: "AMAZON.SportsEvent.Updated",
        fields: &[
            req("sportsEvent.eventLeague.name", Kind::Localized("eventLeagueName")),
            req(
                "sportsEvent.homeTeamStatistic.team.name",
                Kind::TextOrLocalized("homeTeamName"),
            ),
            req("sportsEvent.homeTeamStatistic.score", Kind::Count),
            req(
                "sportsEvent.awayTeamStatistic.team.name",
                Kind::TextOrLocalized("awayTeamName"),
            ),
            req("sportsEvent.awayTeamStatistic.score", Kind::Count),
            opt("update.scoreEarned", Kind::Count),
            opt("update.teamName", Kind::TextOrLocalized("updateTeamName")),
        ],
        locales: None,
    },
    Schema {
        name: "AMAZON.MessageAlert.Activated",
        fields: &[
            req("state.status", Kind::OneOf(&["UNREAD", "FLAGGED"])),
            opt("state.freshness", Kind::OneOf(&["NEW", "OVERDUE"])),
            req("messageGroup.creator.name", Kind::TextOrLocalized("creatorName")),
            req("messageGroup.count", Kind::Count),
            opt("messageGroup.urgency", Kind::OneOf(&["URGENT"])),
        ],
        locales: None,
    },
    Schema {
        name: "AMAZON.OrderStatus.Updated",
        fields: &[
            req("state.status", Kind::OneOf(ORDER_STATUSES)),
            opt("state.enterTimestamp", Kind::DateTime),
            opt("state.deliveryDetails.expectedArrival", Kind::DateTime),
            req("order.seller.name", Kind::Localized("sellerName")),
        ],
        locales: Some(&["en-US"]),
    },
    Schema {
        name: "AMAZON.Occasion.Updated",
        fields: &[
            req(
                "state.confirmationStatus",
                Kind::OneOf(&[
                    "CONFIRMED",
                    "CANCELED",
                    "RESCHEDULED",
                    "REQUESTED",
                    "CREATED",
                    "UPDATED",
                ]),
            ),
            req(
                "occasion.occasionType",
                Kind::OneOf(&[
                    "RESERVATION_REQUEST",
                    "RESERVATION",
                    "APPOINTMENT_REQUEST",
                    "APPOINTMENT",
                ]),
            ),
            req("occasion.subject", Kind::Localized("subject")),
            req("occasion.provider.name", Kind::Localized("providerName")),
            req("occasion.bookingTime", Kind::DateTime),
            opt("occasion.broker.name", Kind::Localized("brokerName")),
        ],
        locales: None,
    },
    Schema {
        name: "AMAZON.TrashCollectionAlert.Activated",
        fields: &[
            req("alert.garbageTypes", Kind::ListOf(GARBAGE_TYPES)),
            req("alert.collectionDayOfWeek", Kind::OneOf(DAYS)),
        ],
        locales: None,
    },
    Schema {
        name: "AMAZON.MediaContent.Available",
        fields: &[
            req("availability.startTime", Kind::DateTime),
            opt("availability.provider.name", Kind::Localized("providerName")),
            req(
                "availability.method",
                Kind::OneOf(&["STREAM", "AIR", "RELEASE", "PREMIERE", "DROP"]),
            ),
            req("content.name", Kind::Localized("contentName")),
            req(
                "content.contentType",
                Kind::OneOf(&["BOOK", "EPISODE", "ALBUM", "SINGLE", "MOVIE", "GAME"]),
            ),
        ],
        locales: None,
    },
    Schema {
        name: "AMAZON.SocialGameInvite.Available",
        fields: &[
            req(
                "invite.relationshipToInvitee",
                Kind::OneOf(&["FRIEND", "CONTACT"]),
            ),
            req("invite.inviter.name", Kind::TextOrLocalized("inviterName")),
            req("invite.inviteType", Kind::OneOf(&["CHALLENGE", "INVITE"])),
            req("game.offer", Kind::OneOf(&["MATCH", "REMATCH", "GAME"])),
            req("game.name", Kind::Localized("gameName")),
        ],
        locales: Some(&["en-US"]),
    },
];

/// The schema named `name`.
pub fn schema(name: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.name == name)
}

fn at<'a>(payload: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(payload, |v, step| v.get(step))
}

fn pointer(path: &str) -> String {
    format!("/event/payload/{}", path.replace('.', "/"))
}

impl Schema {
    /// Every rule `payload` breaks, with `localized` the request's `localizedAttributes`.
    pub fn check(&self, payload: &Value, localized: &[Map<String, Value>]) -> Vec<Finding> {
        let mut f = Vec::new();
        if let Some(allowed) = self.locales {
            for (i, set) in localized.iter().enumerate() {
                if let Some(l) = set.get("locale").and_then(Value::as_str)
                    && !allowed.contains(&l)
                {
                    f.push(Finding::new(
                        format!("/localizedAttributes/{i}/locale"),
                        "enum",
                        format!("{} is offered in {} only, not {l}", self.name, allowed.join(", ")),
                    ));
                }
            }
        }
        for field in self.fields {
            let path = pointer(field.path);
            let Some(value) = at(payload, field.path) else {
                if field.required {
                    f.push(Finding::new(
                        path,
                        "required",
                        format!("{} needs {}", self.name, field.path),
                    ));
                }
                continue;
            };
            f.extend(check_value(field, value, &path, localized));
        }
        f
    }
}

fn check_value(field: &Field, value: &Value, path: &str, localized: &[Map<String, Value>]) -> Vec<Finding> {
    let one = |rule: &str, message: String| vec![Finding::new(path, rule, message)];
    match field.kind {
        Kind::Text => match value.as_str() {
            Some(s) if !s.is_empty() => vec![],
            _ => one("type", format!("{} must be text", field.path)),
        },
        Kind::Localized(key) | Kind::TextOrLocalized(key) => {
            let Some(s) = value.as_str().filter(|s| !s.is_empty()) else {
                return one("type", format!("{} must be text", field.path));
            };
            match s.strip_prefix(LOCALIZED_PREFIX) {
                Some(k) => resolved(k, path, localized),
                None if matches!(field.kind, Kind::Localized(_)) => one(
                    "localized",
                    format!(
                        "{} is said in the user's language: give \"{LOCALIZED_PREFIX}{key}\" and {key} in each localizedAttributes entry",
                        field.path
                    ),
                ),
                None => vec![],
            }
        }
        Kind::OneOf(allowed) => match value.as_str() {
            Some(s) if allowed.contains(&s) => vec![],
            _ => one(
                "enum",
                format!("{} is {value}, not one of {}", field.path, allowed.join(", ")),
            ),
        },
        Kind::ListOf(allowed) => match value.as_array() {
            Some(items) if !items.is_empty() => items
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.as_str().is_some_and(|s| allowed.contains(&s)))
                .map(|(i, v)| {
                    Finding::new(
                        format!("{path}/{i}"),
                        "enum",
                        format!("{v} is not one of {}", allowed.join(", ")),
                    )
                })
                .collect(),
            _ => one("type", format!("{} must be a list of at least one", field.path)),
        },
        Kind::Count => match value.as_u64() {
            Some(_) => vec![],
            None => one(
                "type",
                format!("{} must be a whole number, 0 or more", field.path),
            ),
        },
        Kind::DateTime => match value.as_str().and_then(crate::timestamp::parse) {
            Some(_) => vec![],
            None => one("format", format!("{} must be an ISO-8601 date-time", field.path)),
        },
    }
}

/// A `localizedattribute:` reference must be resolvable in every locale given.
fn resolved(key: &str, path: &str, localized: &[Map<String, Value>]) -> Vec<Finding> {
    if localized.is_empty() {
        return vec![Finding::new(
            "/localizedAttributes",
            "required",
            format!("{path} refers to {key}, and there is no localizedAttributes entry to find it in"),
        )];
    }
    localized
        .iter()
        .enumerate()
        .filter(|(_, set)| set.get(key).and_then(Value::as_str).is_none_or(str::is_empty))
        .map(|(i, set)| {
            let locale = set.get("locale").and_then(Value::as_str).unwrap_or("?");
            Finding::new(
                format!("/localizedAttributes/{i}"),
                "required",
                format!("{path} refers to {key}, which the {locale} entry does not give"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locales(v: Value) -> Vec<Map<String, Value>> {
        serde_json::from_value(v).unwrap()
    }

    /// Each schema's example, as Amazon's page shows it (its values), passes.
    #[test]
    fn each_schemas_example_passes() {
        let examples = [
            (
                "AMAZON.WeatherAlert.Activated",
                json!({"weatherAlert": {"source": "localizedattribute:source", "alertType": "TORNADO"}}),
                json!([{"locale": "en-US", "source": "Example Weather Corp"}]),
            ),
            (
                "AMAZON.SportsEvent.Updated",
                json!({"update": {"scoreEarned": 1, "teamName": "Apples"},
                       "sportsEvent": {"eventLeague": {"name": "localizedattribute:eventLeagueName"},
                                       "homeTeamStatistic": {"team": {"name": "Oranges"}, "score": 1},
                                       "awayTeamStatistic": {"team": {"name": "Apples"}, "score": 2}}}),
                json!([{"locale": "en-US", "eventLeagueName": "TreeFruit League"}]),
            ),
            (
                "AMAZON.MessageAlert.Activated",
                json!({"state": {"status": "UNREAD", "freshness": "NEW"},
                       "messageGroup": {"creator": {"name": "Jane Doe"}, "count": 3, "urgency": "URGENT"}}),
                json!([{"locale": "en-US"}]),
            ),
            (
                "AMAZON.OrderStatus.Updated",
                json!({"state": {"status": "ORDER_SHIPPED", "deliveryDetails": {"expectedArrival": "2026-05-18T00:00:00Z"}},
                       "order": {"seller": {"name": "localizedattribute:sellerName"}}}),
                json!([{"locale": "en-US", "sellerName": "Example Shop"}]),
            ),
            (
                "AMAZON.Occasion.Updated",
                json!({"state": {"confirmationStatus": "CONFIRMED"},
                       "occasion": {"occasionType": "APPOINTMENT", "subject": "localizedattribute:subject",
                                    "provider": {"name": "localizedattribute:providerName"},
                                    "bookingTime": "2026-11-20T19:16:31Z",
                                    "broker": {"name": "localizedattribute:brokerName"}}}),
                json!([{"locale": "en-US", "subject": "Dentist", "providerName": "Smile Clinic", "brokerName": "Bookings"}]),
            ),
            (
                "AMAZON.TrashCollectionAlert.Activated",
                json!({"alert": {"garbageTypes": ["RECYCLABLE_PLASTICS", "WASTE_PAPER"], "collectionDayOfWeek": "TUESDAY"}}),
                json!([{"locale": "en-GB"}]),
            ),
            (
                "AMAZON.MediaContent.Available",
                json!({"availability": {"startTime": "2026-02-01T23:51:00Z", "provider": {"name": "localizedattribute:providerName"}, "method": "AIR"},
                       "content": {"name": "localizedattribute:contentName", "contentType": "EPISODE"}}),
                json!([{"locale": "en-US", "providerName": "Example TV", "contentName": "Example Show"},
                       {"locale": "de-DE", "providerName": "Beispiel-TV", "contentName": "Beispielsendung"}]),
            ),
            (
                "AMAZON.SocialGameInvite.Available",
                json!({"invite": {"relationshipToInvitee": "FRIEND", "inviter": {"name": "Max"}, "inviteType": "CHALLENGE"},
                       "game": {"offer": "MATCH", "name": "localizedattribute:gameName"}}),
                json!([{"locale": "en-US", "gameName": "Example Quiz"}]),
            ),
        ];
        assert_eq!(examples.len(), SCHEMAS.len());
        for (name, payload, loc) in examples {
            let findings = schema(name).unwrap().check(&payload, &locales(loc));
            assert_eq!(findings, vec![], "{name}");
        }
    }

    #[test]
    fn the_values_the_published_sdks_agree_on_and_no_others() {
        let trash = schema("AMAZON.TrashCollectionAlert.Activated").unwrap();
        let found = |types: Value| {
            trash
                .check(
                    &json!({"alert": {"garbageTypes": types, "collectionDayOfWeek": "MONDAY"}}),
                    &[],
                )
                .len()
        };
        assert_eq!(found(json!(["CLOTHING", "WASTE_PAPER"])), 0);
        assert_eq!(
            found(json!(["PAPER"])),
            1,
            "not a garbage type Amazon's SDKs know"
        );
        let weather = schema("AMAZON.WeatherAlert.Activated").unwrap();
        let rules: Vec<(String, String)> = weather
            .check(
                &json!({"weatherAlert": {"source": "localizedattribute:source", "alertType": "DEFAULT"}}),
                &locales(json!([{"locale": "en-US", "source": "Weather"}])),
            )
            .into_iter()
            .map(|f| (f.path, f.rule))
            .collect();
        assert_eq!(
            rules,
            [(
                "/event/payload/weatherAlert/alertType".to_owned(),
                "enum".to_owned()
            )]
        );
        let missing = weather.check(
            &json!({"weatherAlert": {"source": "localizedattribute:source"}}),
            &locales(json!([{"locale": "en-US", "source": "Weather"}])),
        );
        assert_eq!(missing.len(), 1, "alertType is required");
    }

    #[test]
    fn each_rule_is_named_where_it_is_broken() {
        let order = schema("AMAZON.OrderStatus.Updated").unwrap();
        let rules = |payload: Value, loc: Value| -> Vec<(String, String)> {
            order
                .check(&payload, &locales(loc))
                .into_iter()
                .map(|f| (f.path, f.rule))
                .collect()
        };
        assert_eq!(
            rules(
                json!({"order": {"seller": {"name": "Shop"}}}),
                json!([{"locale": "en-US"}])
            ),
            vec![
                ("/event/payload/state/status".into(), "required".into()),
                ("/event/payload/order/seller/name".into(), "localized".into()),
            ]
        );
        assert_eq!(
            rules(
                json!({"state": {"status": "LOST"}, "order": {"seller": {"name": "localizedattribute:sellerName"}}}),
                json!([{"locale": "en-US", "sellerName": "Shop"}, {"locale": "de-DE"}])
            ),
            vec![
                ("/localizedAttributes/1/locale".into(), "enum".into()),
                ("/event/payload/state/status".into(), "enum".into()),
                ("/localizedAttributes/1".into(), "required".into()),
            ],
            "a reference unresolved in one locale, a locale the schema is not offered in"
        );
        let trash = schema("AMAZON.TrashCollectionAlert.Activated").unwrap();
        let f = trash.check(
            &json!({"alert": {"garbageTypes": ["WASTE_PAPER", "GOLD"], "collectionDayOfWeek": "FUNDAY"}}),
            &[],
        );
        let paths: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/event/payload/alert/garbageTypes/1",
                "/event/payload/alert/collectionDayOfWeek"
            ]
        );
        let sports = schema("AMAZON.SportsEvent.Updated").unwrap();
        let f = sports.check(
            &json!({"sportsEvent": {"eventLeague": {"name": "localizedattribute:league"},
                                    "homeTeamStatistic": {"team": {"name": "A"}, "score": -1},
                                    "awayTeamStatistic": {"team": {"name": "B"}, "score": 2}}}),
            &[],
        );
        let rules: Vec<(&str, &str)> = f.iter().map(|f| (f.path.as_str(), f.rule.as_str())).collect();
        assert_eq!(
            rules,
            [
                ("/localizedAttributes", "required"),
                ("/event/payload/sportsEvent/homeTeamStatistic/score", "type")
            ]
        );
    }
}
