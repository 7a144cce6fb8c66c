//! The sim's own API under `/sim/`: register skills and users, drive Alexa's behaviour, read
//! the event log, inject faults. Errors are `{"error": "..."}` with 400 or 404.

use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::console;
use crate::drivers::{self, DriverError, custom, link, smarthome};
use crate::faults::Fault;
use crate::region::Region;
use crate::world::{Gadget, SkillRegistration, WorldError};

/// The routes, to be nested under `/sim`.
pub fn router() -> Router<Sim> {
    Router::new()
        .route("/", get(console::page))
        .route("/events", get(events))
        .route("/signing-root.pem", get(signing_root))
        .route("/faults", post(add_fault).get(list_faults).delete(clear_faults))
        .route("/skills", post(register_skill).get(list_skills))
        .route("/skills/{skill}", get(get_skill).delete(delete_skill))
        .route("/users", post(add_user).get(list_users))
        .route("/users/{user}", get(get_user).delete(delete_user))
        .route("/users/{user}/gadgets", put(set_gadgets))
        .route(
            "/users/{user}/gadgets/{endpoint}/directives",
            get(gadget_directives),
        )
        .route("/users/{user}/gadgets/{endpoint}/events", post(gadget_event))
        .route("/skills/{skill}/users/{user}", get(get_enablement))
        .route("/skills/{skill}/users/{user}/enable", post(enable))
        .route("/skills/{skill}/users/{user}/disable", post(disable))
        .route("/skills/{skill}/users/{user}/subscriptions", post(subscriptions))
        .route("/users/{user}/notifications", get(notifications))
        .route("/skills/{skill}/users/{user}/link", post(link_account))
        .route("/skills/{skill}/users/{user}/grant", post(grant))
        .route("/skills/{skill}/users/{user}/directives", post(directive))
        .route("/skills/{skill}/users/{user}/requests", post(request))
        .route("/skills/{skill}/evaluations", post(start_evaluation))
        .route("/evaluations", get(list_evaluations))
        .route("/evaluations/{id}", get(get_evaluation))
        .layer(axum::middleware::from_fn(tools_only))
}

/// The sim's own API is for tools, not for web pages: a request a browser sends for another
/// site (`Origin` naming another host, or `Sec-Fetch-Site` saying so) is refused, and a body
/// is JSON, said so. A web page open in the same browser cannot start an evaluation (which
/// sends Unlock), grant, or register a skill; curl and the rask CLI send neither header.
async fn tools_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let headers = request.headers();
    if request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let foreign_origin = headers
            .get(axum::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|o| o.split_once("://").map(|(_, h)| h) != Some(host));
        let foreign_fetch = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| !matches!(s, "same-origin" | "none"));
        if foreign_origin || foreign_fetch {
            return ApiError(
                StatusCode::FORBIDDEN,
                "the sim's API takes no request from a web page of another site".into(),
            )
            .into_response();
        }
    }
    let has_body = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|n| n != "0")
        || headers.contains_key(axum::http::header::TRANSFER_ENCODING);
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if has_body && !json {
        return ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the sim's API takes JSON: send the body with Content-Type: application/json".into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// A control-API error.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<WorldError> for ApiError {
    fn from(e: WorldError) -> Self {
        let status = match e {
            WorldError::NoSkill(_) | WorldError::NoUser(_) => StatusCode::NOT_FOUND,
            WorldError::UserExists(_) => StatusCode::CONFLICT,
            WorldError::Invalid(_) => StatusCode::BAD_REQUEST,
            WorldError::Busy(_) => StatusCode::CONFLICT,
        };
        ApiError(status, e.to_string())
    }
}

impl From<DriverError> for ApiError {
    fn from(e: DriverError) -> Self {
        match e {
            DriverError::World(w) => w.into(),
            other => ApiError(StatusCode::BAD_REQUEST, other.to_string()),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(status: StatusCode, v: Value) -> ApiResult {
    Ok((status, Json(v)).into_response())
}

/// Reads a JSON object body, answering a clear 400 rather than axum's plain-text rejection.
/// Only an object will do: serde would happily read a struct from `[]`.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |why: String| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid: {why}"),
        )
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if !value.is_object() {
        return Err(invalid("expected a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    since: u64,
    api: Option<String>,
}

async fn events(State(sim): State<Sim>, Query(q): Query<EventsQuery>) -> ApiResult {
    if let Some(api) = q.api.as_deref().filter(|a| !crate::log::APIS.contains(a)) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "no API {:?}: use one of {}",
                rask_model::limits::logged(api),
                crate::log::APIS.join(", ")
            ),
        ));
    }
    let events = sim.world().log.since(q.since, q.api.as_deref());
    ok(StatusCode::OK, json!({ "events": events }))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FaultRequest {
    Action(Action),
    Fault(Fault),
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
enum Action {
    /// Expire every LWA access token held for the user.
    ExpireTokens { user: String },
    /// Disable the skill for the user, as in the Alexa app.
    DisableSkill {
        user: String,
        #[serde(rename = "skillId")]
        skill_id: String,
    },
}

async fn add_fault(State(sim): State<Sim>, bytes: axum::body::Bytes) -> ApiResult {
    let request: FaultRequest = body(&bytes).map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "a fault is {\"target\": lwa|gateway|messaging|proactive|endpoints, \"status\"?, \"code\"?, \"hangMs\"?, \"body\"?, \"contentType\"?, \"count\"?} \
             or {\"action\": \"expireTokens\", \"user\"} or {\"action\": \"disableSkill\", \"user\", \"skillId\"}"
                .into(),
        )
    })?;
    let mut w = sim.world();
    match request {
        FaultRequest::Fault(f) => {
            if f.status.is_none() && f.hang_ms.is_none() {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    "a fault needs a status, a hangMs, or both".into(),
                ));
            }
            if f.body.is_some() && f.status.is_none() {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    "a fault with a body needs the status to answer it with".into(),
                ));
            }
            if f.status.is_some_and(|s| !(400..600).contains(&s)) {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    "a fault's status is an error status, 400 to 599".into(),
                ));
            }
            w.faults.add(f.clone());
            drop(w);
            ok(StatusCode::CREATED, json!({ "queued": f }))
        }
        FaultRequest::Action(Action::ExpireTokens { user }) => {
            let n = w.expire_tokens(&user, Instant::now())?;
            ok(StatusCode::OK, json!({ "expired": n }))
        }
        FaultRequest::Action(Action::DisableSkill { user, skill_id }) => {
            drop(w);
            // As the user does it: a custom skill is told (SkillDisabled).
            crate::skill_events::disable(&sim, &skill_id, &user)?;
            ok(StatusCode::OK, json!({ "disabled": true }))
        }
    }
}

async fn list_faults(State(sim): State<Sim>) -> ApiResult {
    ok(StatusCode::OK, json!({ "faults": sim.world().faults.pending() }))
}

async fn clear_faults(State(sim): State<Sim>) -> ApiResult {
    sim.world().faults.clear();
    ok(StatusCode::OK, json!({ "faults": [] }))
}

async fn register_skill(State(sim): State<Sim>, bytes: axum::body::Bytes) -> ApiResult {
    let r: SkillRegistration = body(&bytes)?;
    let skill = sim.world().register_skill(r)?;
    ok(StatusCode::CREATED, json!(skill))
}

async fn list_skills(State(sim): State<Sim>) -> ApiResult {
    ok(StatusCode::OK, json!({ "skills": sim.world().skills() }))
}

async fn get_skill(State(sim): State<Sim>, Path(skill): Path<String>) -> ApiResult {
    let s = sim.world().skill(&skill)?.clone();
    ok(StatusCode::OK, json!(s))
}

async fn delete_skill(State(sim): State<Sim>, Path(skill): Path<String>) -> ApiResult {
    sim.world().remove_skill(&skill)?;
    ok(StatusCode::OK, json!({ "deleted": skill }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewUser {
    name: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    gadgets: Vec<Gadget>,
}

async fn add_user(State(sim): State<Sim>, bytes: axum::body::Bytes) -> ApiResult {
    let u: NewUser = body(&bytes)?;
    let region = match u.region.as_deref() {
        None => Region::Na,
        Some(r) => Region::parse(r).ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("region {r:?} is not NA, EU or FE"),
            )
        })?,
    };
    let user = sim.world().add_user(&u.name, region, u.gadgets)?;
    ok(StatusCode::CREATED, json!(user))
}

async fn list_users(State(sim): State<Sim>) -> ApiResult {
    ok(StatusCode::OK, json!({ "users": sim.world().users() }))
}

async fn get_user(State(sim): State<Sim>, Path(user): Path<String>) -> ApiResult {
    let u = sim.world().user(&user)?.clone();
    ok(StatusCode::OK, json!(u))
}

async fn delete_user(State(sim): State<Sim>, Path(user): Path<String>) -> ApiResult {
    sim.world().remove_user(&user)?;
    ok(StatusCode::OK, json!({ "deleted": user }))
}

async fn set_gadgets(
    State(sim): State<Sim>,
    Path(user): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    let gadgets: Vec<Gadget> = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body is not a JSON array of gadgets: {e}"),
        )
    })?;
    sim.world().set_gadgets(&user, gadgets)?;
    ok(StatusCode::OK, json!({ "user": user }))
}

async fn get_enablement(State(sim): State<Sim>, Path((skill, user)): Path<(String, String)>) -> ApiResult {
    let e = sim.world().enablement(&skill, &user)?.clone();
    ok(StatusCode::OK, json!(e))
}

async fn enable(State(sim): State<Sim>, Path((skill, user)): Path<(String, String)>) -> ApiResult {
    let e = sim.world().enable(&skill, &user)?.clone();
    ok(StatusCode::OK, json!(e))
}

async fn disable(State(sim): State<Sim>, Path((skill, user)): Path<(String, String)>) -> ApiResult {
    crate::skill_events::disable(&sim, &skill, &user)?;
    ok(StatusCode::OK, json!({ "disabled": true }))
}

/// `{"events": ["AMAZON.OrderStatus.Updated"]}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Subscriptions {
    events: Vec<String>,
}

async fn subscriptions(
    State(sim): State<Sim>,
    Path((skill, user)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    let s: Subscriptions = body(&bytes)?;
    if let Some(bad) = s
        .events
        .iter()
        .find(|e| !rask_model::proactive::SCHEMA_NAMES.contains(&e.as_str()))
    {
        return Err(
            crate::world::WorldError::Invalid(format!("{bad:?} is not a proactive event schema")).into(),
        );
    }
    crate::skill_events::subscribe(&sim, &skill, &user, s.events.clone())?;
    ok(StatusCode::OK, json!({ "subscriptions": s.events }))
}

async fn notifications(State(sim): State<Sim>, Path(user): Path<String>) -> ApiResult {
    let w = sim.world();
    let u = w.user(&user)?;
    let by_skill: serde_json::Map<String, Value> = u
        .skills
        .iter()
        .map(|(skill, e)| (skill.clone(), json!(e.notifications)))
        .collect();
    ok(StatusCode::OK, json!({ "user": user, "notifications": by_skill }))
}

async fn link_account(
    State(sim): State<Sim>,
    Path((skill, user)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    let req: link::LinkRequest = body(&bytes)?;
    let outcome = link::link(&sim, &skill, &user, &req).await?;
    let status = if outcome.linked {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    ok(status, json!(outcome))
}

async fn grant(State(sim): State<Sim>, Path((skill, user)): Path<(String, String)>) -> ApiResult {
    exchange(smarthome::accept_grant(&sim, &skill, &user).await)
}

async fn directive(
    State(sim): State<Sim>,
    Path((skill, user)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    let spec: smarthome::DirectiveSpec = body(&bytes)?;
    exchange(smarthome::send(&sim, &skill, &user, &spec).await)
}

async fn request(
    State(sim): State<Sim>,
    Path((skill, user)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    let spec: custom::RequestSpec = body(&bytes)?;
    exchange(custom::send(&sim, &skill, &user, &spec).await)
}

/// `POST /sim/skills/{skill}/evaluations` with `{"user", ...EvaluationRequest}`: starts a Works
/// with Alexa evaluation; 202 with its URL, where its rows appear as it runs.
async fn start_evaluation(
    State(sim): State<Sim>,
    Path(skill): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    let mut fields: serde_json::Map<String, Value> = body(&bytes)?;
    let user = match fields.remove("user") {
        Some(Value::String(u)) => u,
        _ => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "an evaluation needs \"user\": the simulated user to run it as".into(),
            ));
        }
    };
    let request: crate::evaluate::EvaluationRequest =
        serde_json::from_value(Value::Object(fields)).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("the request body is not valid: {e}"),
            )
        })?;
    let id = crate::evaluate::start(&sim, &skill, &user, request)?;
    let url = format!("{}/sim/evaluations/{id}", sim.base_url());
    Ok((
        StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, url.clone())],
        Json(json!({"id": id, "url": url})),
    )
        .into_response())
}

async fn list_evaluations(State(sim): State<Sim>) -> ApiResult {
    let w = sim.world();
    ok(StatusCode::OK, json!({"evaluations": w.evaluations.list()}))
}

async fn get_evaluation(State(sim): State<Sim>, Path(id): Path<String>) -> ApiResult {
    let w = sim.world();
    match id.parse().ok().and_then(|n| w.evaluations.get(n)) {
        Some(e) => ok(StatusCode::OK, json!(e)),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "no evaluation {id} (the sim keeps the last {})",
                crate::evaluate::KEPT
            ),
        )),
    }
}

/// `GET /sim/users/{user}/gadgets/{endpoint}/directives`: what that gadget received.
async fn gadget_directives(
    State(sim): State<Sim>,
    Path((user, endpoint)): Path<(String, String)>,
) -> ApiResult {
    let w = sim.world();
    w.user(&user).map_err(DriverError::World)?;
    ok(StatusCode::OK, json!(w.gadget_directives(&user, &endpoint)))
}

/// `POST /sim/users/{user}/gadgets/{endpoint}/events`: the gadget sends an event.
async fn gadget_event(
    State(sim): State<Sim>,
    Path((user, endpoint)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    let spec: drivers::gadgets::GadgetEventSpec = body(&bytes)?;
    let outcome = drivers::gadgets::gadget_event(&sim, &user, &endpoint, &spec).await?;
    ok(StatusCode::OK, json!(outcome))
}

fn exchange(r: Result<drivers::Exchange, DriverError>) -> ApiResult {
    ok(StatusCode::OK, json!(r?))
}

/// `GET /sim/signing-root.pem`: the root a skill trusts to accept the sim's signed requests.
async fn signing_root(State(sim): State<Sim>) -> Response {
    match sim.signer() {
        Ok(s) => (
            [(axum::http::header::CONTENT_TYPE, "application/x-pem-file")],
            s.root_pem().to_owned(),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
