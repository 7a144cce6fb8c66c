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

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
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
use serde_json::Value;

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
    Router::new()
        .route("/alexa/smarthome", post(handle))
        .with_state(sh)
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

async fn handle(
    State(sh): State<SmartHome>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<EventMessage>) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = sh
        .forwarder
        .as_ref()
        .map(|check| check.accept(get, &body, rask_store::now_ms() / 1000));
    let directive = serde_json::from_slice::<Value>(&body)
        .map_err(|e| format!("the directive is not JSON: {e}"))
        .and_then(|v| {
            serde_json::from_value::<DirectiveMessage>(v)
                .map(|m| m.directive)
                .map_err(|e| format!("the directive cannot be read: {e}"))
        });
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
        return (StatusCode::UNAUTHORIZED, Json(answer));
    }
    let directive = match directive {
        Ok(d) => d,
        Err(why) => return (StatusCode::OK, Json(unreadable(why))),
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
    (StatusCode::OK, Json(answer(&sh, &directive, region).await))
}

fn error(d: &Directive, kind: ErrorType, message: impl Into<String>) -> EventMessage {
    EventMessage::error(d, ErrorPayload::new(kind, message))
}

async fn answer(sh: &SmartHome, d: &Directive, region: Region) -> EventMessage {
    let name = format!("{}.{}", d.header.namespace, d.header.name);
    if matches!(d.payload, DirectivePayload::Unknown(_)) {
        return error(
            d,
            ErrorType::InvalidDirective,
            format!("{name} is not a directive rask handles"),
        );
    }
    let user = match user(sh, d).await {
        Ok(u) => u,
        Err(e) => return e,
    };
    match &d.payload {
        DirectivePayload::AcceptGrant(p) => accept_grant(sh, d, &user, &p.grant.code, region).await,
        DirectivePayload::Discover(_) => {
            tracing::info!(user = %user.name, "discovery");
            EventMessage::discover_response(sh.registry.devices().iter().map(|dev| dev.discovery()).collect())
        }
        _ => match d.endpoint_id().and_then(|id| sh.registry.get(id)) {
            None => error(
                d,
                ErrorType::NoSuchEndpoint,
                format!("no device {:?} is bridged by rask", d.endpoint_id().unwrap_or("")),
            ),
            Some(dev) => match &d.payload {
                DirectivePayload::ReportState(_) => sh.controller.state_report(dev, d).await,
                _ => sh.controller.handle(dev, d, &user.id).await,
            },
        },
    }
}

async fn user(sh: &SmartHome, d: &Directive) -> Result<User, EventMessage> {
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
        Ok(t) => t,
        Err(e) => return failed(format!("Login with Amazon did not exchange the grant code: {e}")),
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
