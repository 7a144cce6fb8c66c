//! A small skill backend written for the tests, and a harness that starts it beside a
//! simulator on loopback. The skill is deliberately ordinary: a login page, a consent page, a
//! token endpoint with HTTP Basic client authentication, a smart-home endpoint that handles
//! AcceptGrant by exchanging the code at the sim's LWA, and a custom-skill endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use rask_model::custom::ResponseEnvelope;
use rask_model::lwa::TokenResponse;
use rask_model::smarthome::{
    Capability, DirectiveMessage, DirectivePayload, DiscoveryEndpoint, DisplayCategory, ErrorPayload,
    ErrorType, EventMessage, PowerState, Property,
};
use rask_sim::{Sim, SimConfig};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "alexa-client";
pub const CLIENT_SECRET: &str = "alexa-secret-1";
pub const PASSWORD: &str = "correct horse";

/// What the test skill knows and saw.
#[derive(Default)]
pub struct SkillState {
    pub sim_url: String,
    pub lwa_client: (String, String),
    codes: HashMap<String, String>,
    tokens: HashMap<String, String>,
    refresh: HashMap<String, String>,
    /// LWA tokens from AcceptGrant, by user name.
    pub grants: HashMap<String, TokenResponse>,
    /// The last AcceptGrant failure, if any.
    pub grant_error: Option<String>,
    /// Every custom-skill request received.
    pub custom_requests: Vec<Value>,
    /// Every smart-home directive received.
    pub directives: Vec<Value>,
    /// Answer the next N custom requests with 500.
    pub fail_custom: u32,
    /// Answers for the next custom requests, in order, before the usual ones.
    pub custom_answers: std::collections::VecDeque<Value>,
    /// expires_in of the token endpoint.
    pub expires_in: u64,
    /// Whether the token endpoint demands HTTP Basic.
    pub basic_seen: bool,
}

pub type Shared = Arc<Mutex<SkillState>>;

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><title>Test skill</title></head><body>{body}</body></html>"
    ))
}

fn hidden(params: &HashMap<String, String>) -> String {
    ["client_id", "state", "redirect_uri"]
        .iter()
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                params.get(*k).map(String::as_str).unwrap_or("")
            )
        })
        .collect()
}

fn login_page(params: &HashMap<String, String>, error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p role=\"alert\">{e}</p>"))
        .unwrap_or_default();
    page(&format!(
        "{error}<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"csrf\" value=\"tok&amp;en\">{}\
         <label>User <input name=\"username\"></label><label>Password <input type=\"password\" name=\"password\"></label>\
         <button type=\"submit\">Sign in</button></form>",
        hidden(params)
    ))
}

async fn authorize(Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return (StatusCode::BAD_REQUEST, page("unknown client")).into_response();
    }
    login_page(&q, None).into_response()
}

async fn login(Form(f): Form<HashMap<String, String>>) -> Response {
    if f.get("csrf").map(String::as_str) != Some("tok&en") {
        return (StatusCode::FORBIDDEN, page("CSRF token missing")).into_response();
    }
    if f.get("password").map(String::as_str) != Some(PASSWORD) {
        return login_page(&f, Some("Wrong user name or password")).into_response();
    }
    page(&format!(
        "<p>Allow Alexa to control your devices?</p><form method=\"post\" action=\"/consent\">{}\
         <input type=\"hidden\" name=\"username\" value=\"{}\">\
         <button name=\"decision\" value=\"deny\">Deny</button><button name=\"decision\" value=\"allow\">Allow</button></form>",
        hidden(&f),
        f.get("username").cloned().unwrap_or_default()
    ))
    .into_response()
}

async fn consent(State(s): State<Shared>, Form(f): Form<HashMap<String, String>>) -> Response {
    let redirect = f.get("redirect_uri").cloned().unwrap_or_default();
    let state = f.get("state").cloned().unwrap_or_default();
    if f.get("decision").map(String::as_str) != Some("allow") {
        return Redirect::to(&format!("{redirect}?error=access_denied&state={state}")).into_response();
    }
    let code = format!("code-{}", uuid::Uuid::new_v4());
    s.lock()
        .unwrap()
        .codes
        .insert(code.clone(), f.get("username").cloned().unwrap_or_default());
    Redirect::to(&format!("{redirect}?state={state}&code={code}")).into_response()
}

async fn token(
    State(s): State<Shared>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let mut st = s.lock().unwrap();
    st.basic_seen = true;
    let user = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => f.get("code").and_then(|c| st.codes.remove(c)),
        Some("refresh_token") => f.get("refresh_token").and_then(|r| st.refresh.get(r).cloned()),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "unsupported_grant_type"})),
            )
                .into_response();
        }
    };
    let Some(user) = user else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let access = format!("link-{}", uuid::Uuid::new_v4());
    let refresh = format!("refresh-{}", uuid::Uuid::new_v4());
    st.tokens.insert(access.clone(), user.clone());
    st.refresh.insert(refresh.clone(), user);
    let expires_in = st.expires_in;
    Json(json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": expires_in})).into_response()
}

async fn smarthome(State(s): State<Shared>, Json(v): Json<Value>) -> Response {
    s.lock().unwrap().directives.push(v.clone());
    let Ok(m) = serde_json::from_value::<DirectiveMessage>(v) else {
        return (StatusCode::BAD_REQUEST, "not a directive").into_response();
    };
    let d = m.directive;
    let user = d
        .bearer_token()
        .and_then(|t| s.lock().unwrap().tokens.get(t).cloned());
    let Some(user) = user else {
        return Json(EventMessage::error(
            &d,
            ErrorPayload::new(ErrorType::InvalidAuthorizationCredential, "unknown token"),
        ))
        .into_response();
    };
    let answer = match &d.payload {
        DirectivePayload::AcceptGrant(p) => {
            let (sim_url, (id, secret)) = {
                let st = s.lock().unwrap();
                (st.sim_url.clone(), st.lwa_client.clone())
            };
            let r = reqwest::Client::new()
                .post(format!("{sim_url}/auth/o2/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &p.grant.code),
                    ("client_id", &id),
                    ("client_secret", &secret),
                ])
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 200 => {
                    let t: TokenResponse = r.json().await.unwrap();
                    s.lock().unwrap().grants.insert(user, t);
                    EventMessage::accept_grant_response(&d)
                }
                other => {
                    let why = match other {
                        Ok(r) => r.text().await.unwrap_or_default(),
                        Err(e) => e.to_string(),
                    };
                    s.lock().unwrap().grant_error = Some(why.clone());
                    EventMessage::error(&d, ErrorPayload::new(ErrorType::AcceptGrantFailed, why))
                }
            }
        }
        DirectivePayload::Discover(_) => {
            let mut door =
                DiscoveryEndpoint::doorbell("front-door", "Front door", "Test doorbell", "rask tests");
            door.cookie = Some([("wire".to_string(), "gpio-17".to_string())].into());
            let light = DiscoveryEndpoint::new(
                "hall-light",
                "Hall light",
                "Test light",
                "rask tests",
                DisplayCategory::Light,
            )
            .with_capability(Capability::reporting("Alexa.PowerController", &["powerState"]))
            .with_capability(Capability::endpoint_health());
            EventMessage::discover_response(vec![door, light])
        }
        DirectivePayload::TurnOn(_) => {
            EventMessage::response(&d, vec![Property::power_state(PowerState::On)])
        }
        DirectivePayload::ReportState(_) => {
            EventMessage::state_report(&d, vec![Property::power_state(PowerState::Off)])
        }
        DirectivePayload::TurnOff(_) => {
            // Deliberately wrong: forgets the correlation token, so the sim must say so.
            let mut r = EventMessage::response(&d, vec![Property::power_state(PowerState::Off)]);
            r.event.header.correlation_token = None;
            r
        }
        _ => EventMessage::error(
            &d,
            ErrorPayload::new(ErrorType::InvalidDirective, "not supported"),
        ),
    };
    Json(answer).into_response()
}

async fn custom(State(s): State<Shared>, Json(v): Json<Value>) -> Response {
    {
        let mut st = s.lock().unwrap();
        st.custom_requests.push(v.clone());
        if st.fail_custom > 0 {
            st.fail_custom -= 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, "busy").into_response();
        }
        if let Some(answer) = st.custom_answers.pop_front() {
            return Json(answer).into_response();
        }
    }
    let count = v["session"]["attributes"]["count"].as_i64().unwrap_or(0) + 1;
    let attrs = serde_json::Map::from_iter([("count".to_string(), json!(count))]);
    let r = match v["request"]["type"].as_str() {
        Some("LaunchRequest") => {
            ResponseEnvelope::ask("Welcome", "Say something").with_session_attributes(attrs)
        }
        Some("IntentRequest") if v["request"]["intent"]["name"] == "AMAZON.StopIntent" => {
            ResponseEnvelope::speak("Bye").end_session()
        }
        // A dialog the skill hands back to Alexa until the user says "done".
        Some("IntentRequest")
            if v["request"]["intent"]["name"] == "BookIntent"
                && v["request"]["intent"]["slots"]["done"]["value"].is_null() =>
        {
            serde_json::from_value(json!({"version": "1.0", "sessionAttributes": attrs,
                "response": {"directives": [{"type": "Dialog.Delegate"}], "shouldEndSession": false}}))
            .unwrap()
        }
        Some("IntentRequest") => {
            ResponseEnvelope::ask(format!("Turn {count}"), "More?").with_session_attributes(attrs)
        }
        _ => ResponseEnvelope::empty(),
    };
    Json(r).into_response()
}

/// The test skill, serving on a free loopback port.
pub struct TestSkill {
    pub url: String,
    pub state: Shared,
}

impl TestSkill {
    pub async fn start() -> TestSkill {
        let state: Shared = Arc::new(Mutex::new(SkillState {
            expires_in: 3600,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/login", post(login))
            .route("/consent", post(consent))
            .route("/token", post(token))
            .route("/smarthome", post(smarthome))
            .route("/custom", post(custom))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestSkill {
            url: format!("http://{addr}"),
            state,
        }
    }
}

/// A simulator and a test skill registered in it, with one EU user "alice".
pub struct Harness {
    pub sim: Sim,
    /// The local CA's PEM when the sim serves HTTPS.
    pub ca_pem: Option<String>,
    pub url: String,
    pub skill: TestSkill,
    pub skill_id: String,
    pub lwa: (String, String),
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::with_config(SimConfig::default()).await
    }

    pub async fn with_config(config: SimConfig) -> Harness {
        Self::build(config, false).await
    }

    /// A harness whose sim serves HTTPS with a certificate from a fresh local CA.
    pub async fn start_tls() -> Harness {
        Self::build(SimConfig::default(), true).await
    }

    async fn build(config: SimConfig, tls: bool) -> Harness {
        let addr = "127.0.0.1:0".parse().unwrap();
        let (sim, url, ca_pem) = if tls {
            let (sim, addr, id) = Sim::start_tls(config, addr).await.unwrap();
            (sim, format!("https://{addr}"), id.ca_pem)
        } else {
            let (sim, addr) = Sim::start(config, addr).await.unwrap();
            (sim, format!("http://{addr}"), None)
        };
        let skill = TestSkill::start().await;
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(20));
        if let Some(ca) = &ca_pem {
            http = http.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
        }
        let http = http.build().unwrap();
        let reg: Value = http
            .post(format!("{url}/sim/skills"))
            .json(&json!({
                "name": "Test skill",
                "smartHomeEndpoint": format!("{}/smarthome", skill.url),
                "customEndpoint": format!("{}/custom", skill.url),
                "accountLinking": {
                    "authorizationUri": format!("{}/authorize", skill.url),
                    "tokenUri": format!("{}/token", skill.url),
                    "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
                    "scopes": ["devices"], "credentials": "HTTP_BASIC"
                }
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let skill_id = reg["skillId"].as_str().unwrap().to_owned();
        let lwa = (
            reg["lwaClientId"].as_str().unwrap().to_owned(),
            reg["lwaClientSecret"].as_str().unwrap().to_owned(),
        );
        {
            let mut st = skill.state.lock().unwrap();
            st.sim_url = url.clone();
            st.lwa_client = lwa.clone();
        }
        let r = http
            .post(format!("{url}/sim/users"))
            .json(&json!({"name": "alice", "region": "EU"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        Harness {
            sim,
            ca_pem,
            url,
            skill,
            skill_id,
            lwa,
            http,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn link(&self, user: &str, password: &str) -> Value {
        self.post(
            &format!("/sim/skills/{}/users/{user}/link", self.skill_id),
            json!({"username": user, "password": password}),
        )
        .await
        .1
    }

    /// Links alice and grants; returns her LWA access token.
    pub async fn link_and_grant(&self) -> String {
        let l = self.link("alice", PASSWORD).await;
        assert_eq!(l["linked"], true, "{l:#}");
        let (status, g) = self
            .post(
                &format!("/sim/skills/{}/users/alice/grant", self.skill_id),
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(g["valid"], true, "{g:#}");
        self.skill.state.lock().unwrap().grants["alice"]
            .access_token
            .clone()
    }

    pub async fn events(&self, api: &str) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/sim/events?api={api}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["events"].as_array().unwrap().clone()
    }

    pub async fn client_token(&self, scope: &str) -> String {
        let r: Value = self
            .http
            .post(format!("{}/auth/o2/token", self.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("client_id", &self.lwa.0),
                ("client_secret", &self.lwa.1),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"].as_str().unwrap().to_owned()
    }

    pub fn user_id(&self, user: &str) -> String {
        self.sim
            .world()
            .enablement(&self.skill_id, user)
            .unwrap()
            .user_id
            .clone()
    }
}

/// A valid DoorbellPress for the gateway, sent with `token`.
pub fn doorbell(token: &str) -> Value {
    serde_json::to_value(EventMessage::doorbell_press(
        "front-door",
        token,
        time::OffsetDateTime::now_utc(),
    ))
    .unwrap()
}
