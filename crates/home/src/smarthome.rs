//! `POST /alexa/smarthome`: where Alexa's smart-home directives arrive, through the forwarder
//! Lambda. Every answer is an Alexa event, HTTP 200, as a Lambda would return it; problems are
//! `ErrorResponse`s of the documented types:
//!
//! - a token that is unknown or revoked: `INVALID_AUTHORIZATION_CREDENTIAL`; expired:
//!   `EXPIRED_AUTHORIZATION_CREDENTIAL` (Alexa then refreshes it and tries again);
//! - an endpoint that is not in the registry: `NO_SUCH_ENDPOINT`;
//! - a directive rask does not handle, or one that cannot be read: `INVALID_DIRECTIVE`;
//! - control directives and `ReportState`: [`crate::control`], with its own errors
//!   (`VALUE_OUT_OF_RANGE`, `INVALID_VALUE`, `ENDPOINT_UNREACHABLE`, `BRIDGE_UNREACHABLE`);
//! - an `AcceptGrant` whose code LWA refuses: `ACCEPT_GRANT_FAILED`, with the reason logged;
//! - with a forwarder secret configured, a request that the forwarder did not sign, signed
//!   with another secret, stale or replayed: `INVALID_AUTHORIZATION_CREDENTIAL`, HTTP 401.
//!
//! The forwarder names its AWS region in a header, which decides the user's Event Gateway at
//! AcceptGrant. With a forwarder secret that header is signed; without one (a simulator
//! driving rask directly) it is taken as given.
//!
//! The `Discover.Response` is the same for every user until the configuration changes (which
//! takes a restart): it is serialized once, and each answer is those bytes with a new
//! `messageId` put in.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rask_cloud::lwa::LwaClient;
use rask_link::{TokenProblem, Validator};
use rask_model::region::Region;
use rask_model::smarthome::{
    Directive, DirectiveMessage, DirectivePayload, ErrorPayload, ErrorType, Event, EventMessage,
    EventPayload, Header,
};
use rask_store::Store;
use rask_store::sealer::Sealer;
use rask_store::users::User;

use crate::control::Controller;
use crate::devices::Registry;
use crate::forwarder::ForwarderCheck;
use crate::state::DeviceStates;

/// The header in which the forwarder Lambda names its AWS region (or `NA`/`EU`/`FE`).
pub const REGION_HEADER: &str = rask_model::forwarder::REGION_HEADER;

/// What the smart-home endpoint needs.
#[derive(Clone)]
pub struct SmartHome {
    validator: Validator,
    store: Store,
    sealer: Sealer,
    lwa: Arc<LwaClient>,
    registry: Arc<Registry>,
    default_region: Region,
    forwarder: Option<Arc<ForwarderCheck>>,
    controller: Controller,
    discovery: Arc<CachedDiscovery>,
}

/// The `Discover.Response` serialized once: the bytes before and after its `messageId`.
struct CachedDiscovery {
    before: Vec<u8>,
    after: Vec<u8>,
}

/// A stand-in `messageId`, as long as a UUID, that serialization leaves as it is.
const PLACEHOLDER_ID: &str = "rask-discovery-message-id-placeholder";

impl CachedDiscovery {
    fn new(registry: &Registry) -> Self {
        let mut message =
            EventMessage::discover_response(registry.devices().iter().map(|d| d.discovery()).collect());
        message.event.header.message_id = PLACEHOLDER_ID.to_owned();
        let bytes = serde_json::to_vec(&message).unwrap_or_default();
        let at = bytes
            .windows(PLACEHOLDER_ID.len())
            .position(|w| w == PLACEHOLDER_ID.as_bytes())
            .unwrap_or(bytes.len());
        CachedDiscovery {
            before: bytes[..at].to_vec(),
            after: bytes[(at + PLACEHOLDER_ID.len()).min(bytes.len())..].to_vec(),
        }
    }

    /// The answer, with a fresh `messageId`.
    fn answer(&self) -> Vec<u8> {
        let id = uuid::Uuid::new_v4();
        let mut out = Vec::with_capacity(self.before.len() + 36 + self.after.len());
        out.extend_from_slice(&self.before);
        out.extend_from_slice(
            id.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .as_bytes(),
        );
        out.extend_from_slice(&self.after);
        out
    }
}

impl SmartHome {
    /// The endpoint's state. `default_region` is used when a directive does not say which
    /// region it came from.
    pub fn new(
        store: Store,
        sealer: Sealer,
        lwa: Arc<LwaClient>,
        registry: Registry,
        default_region: Region,
    ) -> Self {
        let controller = Controller::new(
            store.clone(),
            DeviceStates::new(store.clone()),
            None,
            Arc::new(tokio::sync::Notify::new()),
        );
        SmartHome {
            validator: Validator::new(store.clone()),
            controller,
            store,
            sealer,
            lwa,
            discovery: Arc::new(CachedDiscovery::new(&registry)),
            registry: Arc::new(registry),
            default_region,
            forwarder: None,
        }
    }

    /// Resolves bearer tokens with `validator` (by default, one of its own that takes any
    /// client's tokens): give it the linking server's, for revocations to be seen at once, and
    /// an audience, for other skills' tokens to be refused.
    pub fn with_validator(mut self, validator: Validator) -> Self {
        self.validator = validator;
        self
    }

    /// Carries out control directives with `controller` (by default: virtual devices only,
    /// no MQTT).
    pub fn with_controller(mut self, controller: Controller) -> Self {
        self.controller = controller;
        self
    }

    /// Requires every directive to carry the forwarder's signature with `secret`.
    pub fn with_forwarder_secret(mut self, secret: Vec<u8>) -> Self {
        self.forwarder = Some(Arc::new(ForwarderCheck::new(secret)));
        self
    }
}

/// The `/alexa/smarthome` route.
pub fn router(sh: SmartHome) -> Router {
    // Behind one Arc: the handler's state is cloned for every request.
    Router::new()
        .route("/alexa/smarthome", post(handle))
        .with_state(Arc::new(sh))
}

/// An `ErrorResponse` for a directive that could not be read: no correlation token to echo.
fn unreadable(message: String) -> EventMessage {
    unreadable_as(ErrorType::InvalidDirective, message)
}

fn unreadable_as(kind: ErrorType, message: String) -> EventMessage {
    EventMessage {
        event: Event {
            header: Header::new("Alexa", "ErrorResponse"),
            endpoint: None,
            payload: EventPayload::ErrorResponse(ErrorPayload::new(kind, message)),
        },
        context: None,
    }
}

/// What a directive is answered with, serialized: most answers are events made for this
/// directive, Discover's is made once ([`CachedDiscovery`]). `outcome` is `ok` or the
/// `ErrorResponse` type, for the metrics.
struct Answer {
    bytes: Vec<u8>,
    outcome: &'static str,
}

impl From<EventMessage> for Answer {
    fn from(e: EventMessage) -> Self {
        let outcome = match &e.event.payload {
            EventPayload::ErrorResponse(p) => p.kind.label(),
            _ => "ok",
        };
        Answer {
            bytes: serde_json::to_vec(&e).unwrap_or_default(),
            outcome,
        }
    }
}

/// Counts the directive, named as rask knows it (`unknown` for one it does not handle).
fn counted(d: Option<&Directive>, answer: Answer) -> Answer {
    let (namespace, name) = match d {
        Some(d) if !matches!(d.payload, DirectivePayload::Unknown(_)) => {
            (d.header.namespace.as_str(), d.header.name.as_str())
        }
        _ => ("unknown", "unknown"),
    };
    crate::metrics::metrics().directive(namespace, name, answer.outcome);
    answer
}

fn respond(status: StatusCode, answer: impl Into<Answer>) -> Response {
    let Answer { bytes, .. } = answer.into();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        bytes,
    )
        .into_response()
}

async fn handle(State(sh): State<Arc<SmartHome>>, headers: HeaderMap, body: Bytes) -> Response {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = sh
        .forwarder
        .as_ref()
        .map(|check| check.accept(get, &body, rask_store::now_ms() / 1000));
    // Typed straight from the bytes; only a directive that cannot be read is looked at again,
    // to say whether it is JSON at all.
    let directive = serde_json::from_slice::<DirectiveMessage>(&body)
        .map(|m| m.directive)
        .map_err(|e| match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            Err(json) => format!("the directive is not JSON: {json}"),
            Ok(_) => format!("the directive cannot be read: {e}"),
        });
    match &signed {
        Some(Ok(region)) => {
            crate::metrics::metrics().forwarder_seen("accepted", &format!("signed, from {region}"))
        }
        Some(Err(refusal)) => crate::metrics::metrics().forwarder_seen("refused", &refusal.to_string()),
        None => {}
    }
    if let Some(Err(refusal)) = &signed {
        tracing::warn!(
            "a directive was refused: {}",
            rask_model::limits::logged(&refusal.to_string())
        );
        let message = format!("rask refused the forwarded request: {refusal}");
        let answer = match &directive {
            Ok(d) => error(d, ErrorType::InvalidAuthorizationCredential, message),
            Err(_) => unreadable_as(ErrorType::InvalidAuthorizationCredential, message),
        };
        return respond(
            StatusCode::UNAUTHORIZED,
            counted(directive.as_ref().ok(), answer.into()),
        );
    }
    let directive = match directive {
        Ok(d) => d,
        Err(why) => return respond(StatusCode::OK, counted(None, unreadable(why).into())),
    };
    let region = match signed {
        Some(Ok(aws_region)) => Some(aws_region),
        _ => get(REGION_HEADER).map(str::to_owned),
    };
    let named = region.clone();
    let region = region
        .and_then(|r| Region::from_aws(&r).or_else(|| Region::parse(&r)))
        .unwrap_or_else(|| {
            if let Some(r) = named {
                tracing::warn!(
                    "the forwarder runs in {}, which serves no Alexa region (us-east-1, eu-west-1, us-west-2); using {}",
                    rask_model::limits::logged(&r),
                    sh.default_region
                );
            }
            sh.default_region
        });
    let answer = answer(&sh, &directive, region).await;
    respond(StatusCode::OK, counted(Some(&directive), answer))
}

fn error(d: &Directive, kind: ErrorType, message: impl Into<String>) -> EventMessage {
    EventMessage::error(d, ErrorPayload::new(kind, message))
}

async fn answer(sh: &SmartHome, d: &Directive, region: Region) -> Answer {
    if matches!(d.payload, DirectivePayload::Unknown(_)) {
        let name = format!("{}.{}", d.header.namespace, d.header.name);
        return error(
            d,
            ErrorType::InvalidDirective,
            format!(
                "{} is not a directive rask handles",
                rask_model::limits::logged(&name)
            ),
        )
        .into();
    }
    let user = match user(sh, d).await {
        Ok(u) => u,
        Err(e) => return e.into(),
    };
    // For every line logged while answering (the listener's request span has these fields).
    let span = tracing::Span::current();
    span.record("user", user.name.as_str());
    if let Some(id) = d.endpoint_id() {
        span.record("device", &*rask_model::limits::logged(id));
    }
    match &d.payload {
        DirectivePayload::AcceptGrant(p) => accept_grant(sh, d, &user, &p.grant.code, region).await.into(),
        DirectivePayload::Discover(_) => {
            tracing::debug!(user = %user.name, "discovery");
            Answer {
                bytes: sh.discovery.answer(),
                outcome: "ok",
            }
        }
        _ => match d.endpoint_id().and_then(|id| sh.registry.get(id)) {
            None => error(
                d,
                ErrorType::NoSuchEndpoint,
                format!(
                    "no device {:?} is bridged by rask",
                    rask_model::limits::logged(d.endpoint_id().unwrap_or(""))
                ),
            )
            .into(),
            Some(dev) => match &d.payload {
                DirectivePayload::ReportState(_) => sh.controller.state_report(dev, d).await.into(),
                _ => sh.controller.handle(dev, d, &user.id).await.into(),
            },
        },
    }
}

async fn user(sh: &SmartHome, d: &Directive) -> Result<Arc<User>, EventMessage> {
    let Some(token) = d.bearer_token() else {
        return Err(error(
            d,
            ErrorType::InvalidAuthorizationCredential,
            "the directive carries no bearer token",
        ));
    };
    sh.validator.user(token).await.map_err(|problem| match problem {
        TokenProblem::Expired => error(
            d,
            ErrorType::ExpiredAuthorizationCredential,
            "the access token has expired",
        ),
        TokenProblem::Store(e) => {
            tracing::error!(error = %e, "the token could not be checked");
            error(d, ErrorType::InternalError, "the token could not be checked")
        }
        other => error(d, ErrorType::InvalidAuthorizationCredential, other.to_string()),
    })
}

async fn accept_grant(
    sh: &SmartHome,
    d: &Directive,
    user: &User,
    code: &str,
    region: Region,
) -> EventMessage {
    let failed = |why: String| {
        tracing::warn!(user = %user.name, %region, "AcceptGrant failed: {why}");
        error(d, ErrorType::AcceptGrantFailed, why)
    };
    let tokens = match sh.lwa.exchange_code(code).await {
        Ok(t) => {
            crate::metrics::metrics().lwa_answered("exchanged", "a grant code was exchanged (AcceptGrant)");
            t
        }
        Err(e) => {
            crate::metrics::metrics().lwa_answered("failed", &e.to_string());
            return failed(format!("Login with Amazon did not exchange the grant code: {e}"));
        }
    };
    let Some(refresh) = tokens.refresh_token else {
        return failed("Login with Amazon sent no refresh token".into());
    };
    let expires_at = rask_store::now_ms() + (tokens.expires_in as i64) * 1000;
    if let Err(e) = sh
        .store
        .save_grant(
            &sh.sealer,
            &user.id,
            region.as_str(),
            &tokens.access_token,
            &refresh,
            expires_at,
        )
        .await
    {
        return failed(format!("the grant could not be stored: {e}"));
    }
    tracing::info!(user = %user.name, %region, "AcceptGrant: events can now be sent for this user");
    EventMessage::accept_grant_response(d)
}
