//! The simulated world: skills, Amazon users, and the tokens and codes Amazon has issued.
//!
//! Everything here is plain state and decisions with no I/O, so that the rules Amazon
//! enforces (which token is good for what, when a code is spent, what disabling a skill
//! revokes) can be read and tested in one place. The HTTP handlers lock the world, ask it, and
//! answer.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use rask_model::lwa::{
    Grant, OAuthErrorCode, SCOPE_PROACTIVE_EVENTS, SCOPE_SKILL_MESSAGING, TokenError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::SimConfig;
use crate::faults::Faults;
use crate::log::EventLog;
use crate::region::Region;

/// Random URL-safe text of `bytes` random bytes.
pub fn random_text(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// How Alexa sends the client credentials to a skill's token endpoint (the console's
/// "Authentication Scheme").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CredentialScheme {
    /// `Authorization: Basic base64(id:secret)`.
    #[default]
    HttpBasic,
    /// `client_id` and `client_secret` in the form body.
    RequestBodyCredentials,
}

/// A skill's account-linking settings, as in the developer console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountLinking {
    /// "Your Web Authorization URI".
    pub authorization_uri: String,
    /// "Access Token URI".
    pub token_uri: String,
    /// "Your Client ID".
    pub client_id: String,
    /// "Your Secret".
    pub client_secret: String,
    /// "Scope".
    #[serde(default)]
    pub scopes: Vec<String>,
    /// "Authentication Scheme".
    #[serde(default)]
    pub credentials: CredentialScheme,
    /// Whether Alexa sends PKCE (S256).
    #[serde(default)]
    pub pkce: bool,
}

/// What a developer tells the sim about a skill.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkillRegistration {
    /// A name for the console.
    #[serde(default)]
    pub name: Option<String>,
    /// Account linking, if the skill uses it.
    #[serde(default)]
    pub account_linking: Option<AccountLinking>,
    /// The skill's LWA ("Alexa Client") id from the Permissions page; generated if absent.
    #[serde(default)]
    pub lwa_client_id: Option<String>,
    /// Its secret; generated if absent.
    #[serde(default)]
    pub lwa_client_secret: Option<String>,
    /// Where smart-home directives go (what the skill's Lambda would receive).
    #[serde(default)]
    pub smart_home_endpoint: Option<String>,
    /// Where custom-skill requests go.
    #[serde(default)]
    pub custom_endpoint: Option<String>,
    /// The "Send Alexa Events" permission (default on); off makes the gateway answer 403
    /// INSUFFICIENT_PERMISSION_EXCEPTION.
    #[serde(default)]
    pub send_events: Option<bool>,
    /// The developer's vendor id used in redirect URIs; generated if absent.
    #[serde(default)]
    pub vendor_id: Option<String>,
}

/// A registered skill.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skill {
    /// `amzn1.ask.skill.…`.
    pub skill_id: String,
    /// The developer's vendor id.
    pub vendor_id: String,
    /// Console name.
    pub name: String,
    /// Account linking settings.
    pub account_linking: Option<AccountLinking>,
    /// LWA client id.
    pub lwa_client_id: String,
    /// LWA client secret.
    pub lwa_client_secret: String,
    /// Smart-home endpoint.
    pub smart_home_endpoint: Option<String>,
    /// Custom-skill endpoint.
    pub custom_endpoint: Option<String>,
    /// "Send Alexa Events" permission.
    pub send_events: bool,
    /// The redirect URIs Amazon would show in the console, one per region.
    pub redirect_uris: Vec<String>,
}

impl Skill {
    /// The account-linking redirect URI Alexa uses for users of `region`.
    pub fn redirect_uri(&self, region: Region) -> String {
        format!(
            "https://{}/api/skill/link/{}",
            region.redirect_host(),
            self.vendor_id
        )
    }
}

/// A gadget paired with a user's Echo, for Endpoint Enumeration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gadget {
    /// `amzn1.ask.endpoint.…`.
    pub endpoint_id: String,
    /// Its name.
    pub friendly_name: String,
    /// Its capabilities: `{type, interface, version}`.
    #[serde(default)]
    pub capabilities: Vec<Value>,
}

/// A simulated Amazon customer with one Echo.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The sim's name for the user.
    pub name: String,
    /// The user's region.
    pub region: Region,
    /// The Echo's id.
    pub device_id: String,
    /// Gadgets paired with the Echo.
    pub gadgets: Vec<Gadget>,
    /// Per skill: enablement, linking, grant.
    pub skills: HashMap<String, Enablement>,
}

/// A user's relation with one skill.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enablement {
    /// `amzn1.ask.account.…`, per skill.
    pub user_id: String,
    /// Whether the skill is enabled.
    pub enabled: bool,
    /// The tokens Alexa holds from the skill's account linking.
    pub link: Option<LinkedTokens>,
    /// Whether the user granted event permission (AcceptGrant sent).
    pub granted: bool,
    /// Endpoints from the last discovery, with their cookies.
    pub endpoints: Vec<DiscoveredEndpoint>,
    /// The open custom-skill session, if any.
    pub session: Option<SessionState>,
    /// The proactive events the user turned notifications on for in the Alexa app; `None`:
    /// all of the skill's (as a developer testing their own skill has them).
    pub subscriptions: Option<Vec<String>>,
    /// The notifications Alexa holds for the user from this skill, oldest first (at most
    /// [`MAX_NOTIFICATIONS`]).
    pub notifications: Vec<Notification>,
}

/// Most notifications kept per user and skill.
pub const MAX_NOTIFICATIONS: usize = 100;

/// A proactive event as the user's notification.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The event's schema.
    pub name: String,
    /// Its referenceId.
    pub reference_id: String,
    /// `development` or `live`.
    pub stage: String,
    /// `Unicast` or `Multicast`.
    pub audience: String,
    /// When the sim accepted it, ISO-8601.
    pub received_at: String,
    /// Until when Alexa keeps it.
    pub expiry_time: String,
    /// The payload, with `localizedattribute:` references put in from the user's locale
    /// (the first one given when theirs is absent).
    pub payload: serde_json::Value,
}

impl Enablement {
    /// Whether the user gets events named `name`.
    pub fn subscribed_to(&self, name: &str) -> bool {
        self.enabled
            && self
                .subscriptions
                .as_ref()
                .is_none_or(|s| s.iter().any(|n| n == name))
    }

    /// Keeps a notification, dropping the oldest past the limit.
    pub fn notify(&mut self, n: Notification) {
        if self.notifications.len() >= MAX_NOTIFICATIONS {
            self.notifications.remove(0);
        }
        self.notifications.push(n);
    }
}

/// Tokens from the skill's account-linking server.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedTokens {
    /// Sent in every directive and request.
    pub access_token: String,
    /// Used when the access token expires.
    pub refresh_token: Option<String>,
    /// Seconds from issue, as the skill said.
    pub expires_in: u64,
    /// When the sim considers the access token expired.
    #[serde(skip)]
    pub expires_at: Option<Instant>,
}

/// An endpoint the skill discovered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredEndpoint {
    /// Its id.
    pub endpoint_id: String,
    /// Its cookie, returned in directives.
    pub cookie: Option<serde_json::Map<String, Value>>,
}

/// An open custom-skill session.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    /// `amzn1.echo-api.session.…`.
    pub session_id: String,
    /// The attributes the skill returned last.
    pub attributes: serde_json::Map<String, Value>,
    /// Whether the next request is the session's first.
    pub new: bool,
    /// The intent whose dialog the skill continued with a `Dialog.*` directive in its last
    /// answer: its next IntentRequest is `IN_PROGRESS`, any other `STARTED`.
    pub dialog: Option<String>,
    /// The gadget event handler the skill started in this session, while it runs.
    pub event_handler: Option<crate::drivers::gadgets::EventHandlerState>,
}

/// Whom an LWA access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// A user's grant to a skill (AcceptGrant code or refresh token).
    UserGrant {
        /// The skill.
        skill_id: String,
        /// The user's name.
        user: String,
    },
    /// A skill's own client-credentials token.
    Client {
        /// The skill.
        skill_id: String,
        /// The scope it was issued for.
        scope: String,
    },
}

#[derive(Debug, Clone)]
struct IssuedToken {
    owner: TokenOwner,
    expires_at: Instant,
}

#[derive(Debug, Clone)]
struct GrantCode {
    skill_id: String,
    user: String,
    expires_at: Instant,
    used: bool,
}

#[derive(Debug, Clone)]
struct ApiToken {
    skill_id: String,
    user: String,
    expires_at: Instant,
}

/// Why the gateway refuses a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayRefusal {
    /// 401 INVALID_ACCESS_TOKEN_EXCEPTION.
    InvalidToken(String),
    /// 403 SKILL_NEVER_ENABLED_EXCEPTION.
    NotEnabled(String),
    /// 403 INSUFFICIENT_PERMISSION_EXCEPTION.
    InsufficientPermission(String),
    /// 404 SKILL_NOT_FOUND_EXCEPTION.
    SkillNotFound(String),
    /// 404 ACCOUNT_NOT_FOUND_EXCEPTION.
    AccountNotFound(String),
}

/// Errors of the sim's own control API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// No such skill.
    #[error("no skill {0:?} is registered in the simulator")]
    NoSkill(String),
    /// No such user.
    #[error("no user {0:?} exists in the simulator")]
    NoUser(String),
    /// A user of that name exists.
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    /// The request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// Something of the same kind is under way and must end first.
    #[error("{0}")]
    Busy(String),
}

/// The simulated world.
pub struct World {
    access_token_lifetime: Duration,
    grant_code_lifetime: Duration,
    api_access_token_lifetime: Duration,
    skills: HashMap<String, Skill>,
    users: HashMap<String, User>,
    access_tokens: HashMap<String, IssuedToken>,
    refresh_tokens: HashMap<String, (String, String)>,
    grant_codes: HashMap<String, GrantCode>,
    api_tokens: HashMap<String, ApiToken>,
    /// Directives each gadget received, by (user, endpoint id), the latest first out.
    gadget_inbox: HashMap<(String, String), std::collections::VecDeque<Value>>,
    proactive_references: HashSet<(String, String, String, String)>,
    /// Each per-skill user id's user name: the out-of-session APIs find users by it.
    skill_user_ids: HashMap<String, String>,
    /// Everything received.
    pub log: EventLog,
    /// Pending faults.
    pub faults: Faults,
    /// Works with Alexa evaluations, running and finished.
    pub evaluations: crate::evaluate::Evaluations,
}

impl World {
    /// An empty world.
    pub fn new(config: &SimConfig) -> Self {
        World {
            access_token_lifetime: config.access_token_lifetime,
            grant_code_lifetime: config.grant_code_lifetime,
            api_access_token_lifetime: config.api_access_token_lifetime,
            skills: HashMap::new(),
            users: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            grant_codes: HashMap::new(),
            api_tokens: HashMap::new(),
            gadget_inbox: HashMap::new(),
            proactive_references: HashSet::new(),
            skill_user_ids: HashMap::new(),
            log: EventLog::default(),
            faults: Faults::default(),
            evaluations: crate::evaluate::Evaluations::default(),
        }
    }

    /// Registers a skill.
    pub fn register_skill(&mut self, r: SkillRegistration) -> Result<Skill, WorldError> {
        for url in [&r.smart_home_endpoint, &r.custom_endpoint].into_iter().flatten() {
            url::Url::parse(url)
                .map_err(|e| WorldError::Invalid(format!("endpoint {url:?} is not a URL: {e}")))?;
        }
        if let Some(l) = &r.account_linking {
            for (field, url) in [
                ("authorizationUri", &l.authorization_uri),
                ("tokenUri", &l.token_uri),
            ] {
                url::Url::parse(url).map_err(|e| {
                    WorldError::Invalid(format!("accountLinking.{field} {url:?} is not a URL: {e}"))
                })?;
            }
        }
        // Amazon's LWA client ids are unique: two skills with one would be told apart at random.
        if let Some(id) = &r.lwa_client_id
            && let Some(other) = self.skills.values().find(|s| &s.lwa_client_id == id)
        {
            return Err(WorldError::Invalid(format!(
                "lwaClientId {id:?} is already skill {}'s; each skill has its own LWA client",
                other.skill_id
            )));
        }
        let skill_id = format!("amzn1.ask.skill.{}", uuid::Uuid::new_v4());
        let vendor_id = r.vendor_id.unwrap_or_else(|| {
            format!(
                "M{}",
                random_text(9).to_ascii_uppercase().replace(['-', '_'], "X")
            )
        });
        let mut skill = Skill {
            name: r.name.unwrap_or_else(|| "Simulated skill".to_owned()),
            account_linking: r.account_linking,
            lwa_client_id: r
                .lwa_client_id
                .unwrap_or_else(|| format!("amzn1.application-oa2-client.{}", uuid::Uuid::new_v4().simple())),
            lwa_client_secret: r
                .lwa_client_secret
                .unwrap_or_else(|| format!("amzn1.oa2-cs.v1.{}", random_text(32))),
            smart_home_endpoint: r.smart_home_endpoint,
            custom_endpoint: r.custom_endpoint,
            send_events: r.send_events.unwrap_or(true),
            redirect_uris: Vec::new(),
            vendor_id,
            skill_id: skill_id.clone(),
        };
        skill.redirect_uris = Region::ALL.iter().map(|r| skill.redirect_uri(*r)).collect();
        self.skills.insert(skill_id, skill.clone());
        Ok(skill)
    }

    /// Every skill.
    pub fn skills(&self) -> Vec<Skill> {
        let mut v: Vec<_> = self.skills.values().cloned().collect();
        v.sort_by(|a, b| a.skill_id.cmp(&b.skill_id));
        v
    }

    /// One skill.
    pub fn skill(&self, skill_id: &str) -> Result<&Skill, WorldError> {
        self.skills
            .get(skill_id)
            .ok_or_else(|| WorldError::NoSkill(skill_id.to_owned()))
    }

    /// Points a skill's custom-skill requests at `url` (the developer console's "Endpoint").
    pub fn set_custom_endpoint(&mut self, skill_id: &str, url: &str) -> Result<(), WorldError> {
        let skill = self
            .skills
            .get_mut(skill_id)
            .ok_or_else(|| WorldError::NoSkill(skill_id.to_owned()))?;
        skill.custom_endpoint = Some(url.to_owned());
        Ok(())
    }

    /// Removes a skill: tokens issued for it now get SKILL_NOT_FOUND_EXCEPTION.
    pub fn remove_skill(&mut self, skill_id: &str) -> Result<(), WorldError> {
        self.skills
            .remove(skill_id)
            .map(|_| ())
            .ok_or_else(|| WorldError::NoSkill(skill_id.to_owned()))
    }

    /// Adds a user in `region`.
    pub fn add_user(&mut self, name: &str, region: Region, gadgets: Vec<Gadget>) -> Result<User, WorldError> {
        if name.is_empty() {
            return Err(WorldError::Invalid("a user needs a name".into()));
        }
        if self.users.contains_key(name) {
            return Err(WorldError::UserExists(name.to_owned()));
        }
        let user = User {
            name: name.to_owned(),
            region,
            device_id: format!("amzn1.ask.device.{}", random_text(24)),
            gadgets,
            skills: HashMap::new(),
        };
        self.users.insert(name.to_owned(), user.clone());
        Ok(user)
    }

    /// Every user.
    pub fn users(&self) -> Vec<User> {
        let mut v: Vec<_> = self.users.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// One user.
    pub fn user(&self, name: &str) -> Result<&User, WorldError> {
        self.users
            .get(name)
            .ok_or_else(|| WorldError::NoUser(name.to_owned()))
    }

    /// Removes a user: tokens issued for them now get ACCOUNT_NOT_FOUND_EXCEPTION.
    pub fn remove_user(&mut self, name: &str) -> Result<(), WorldError> {
        self.users
            .remove(name)
            .ok_or_else(|| WorldError::NoUser(name.to_owned()))?;
        // A user added again under the name has an Echo of their own.
        self.gadget_inbox.retain(|(user, _), _| user != name);
        Ok(())
    }

    /// Replaces a user's gadgets.
    pub fn set_gadgets(&mut self, name: &str, gadgets: Vec<Gadget>) -> Result<(), WorldError> {
        self.users
            .get_mut(name)
            .ok_or_else(|| WorldError::NoUser(name.to_owned()))?
            .gadgets = gadgets;
        Ok(())
    }

    /// The user's relation with the skill, enabling the skill if it was not.
    pub fn enable(&mut self, skill_id: &str, user: &str) -> Result<&mut Enablement, WorldError> {
        self.skill(skill_id)?;
        let u = self
            .users
            .get_mut(user)
            .ok_or_else(|| WorldError::NoUser(user.to_owned()))?;
        let e = u.skills.entry(skill_id.to_owned()).or_insert_with(|| Enablement {
            user_id: format!(
                "amzn1.ask.account.{}",
                random_text(48).to_ascii_uppercase().replace(['-', '_'], "Q")
            ),
            ..Default::default()
        });
        e.enabled = true;
        self.skill_user_ids.insert(e.user_id.clone(), user.to_owned());
        Ok(e)
    }

    /// The user's relation with the skill, if any.
    pub fn enablement(&self, skill_id: &str, user: &str) -> Result<&Enablement, WorldError> {
        self.user(user)?
            .skills
            .get(skill_id)
            .ok_or_else(|| WorldError::Invalid(format!("user {user:?} has never enabled skill {skill_id}")))
    }

    /// Mutable access to an existing relation.
    pub fn enablement_mut(&mut self, skill_id: &str, user: &str) -> Result<&mut Enablement, WorldError> {
        self.users
            .get_mut(user)
            .ok_or_else(|| WorldError::NoUser(user.to_owned()))?
            .skills
            .get_mut(skill_id)
            .ok_or_else(|| WorldError::Invalid(format!("user {user:?} has never enabled skill {skill_id}")))
    }

    /// Finds the user whose per-skill id is `user_id`.
    pub fn user_by_skill_user_id(&self, skill_id: &str, user_id: &str) -> Option<&User> {
        // The index may name a user removed since (and added again): checked here.
        self.skill_user_ids
            .get(user_id)
            .and_then(|name| self.users.get(name))
            .filter(|u| u.skills.get(skill_id).is_some_and(|e| e.user_id == user_id))
    }

    /// Disables the skill for the user, as the user does in the Alexa app: the refresh token is
    /// revoked (a refresh gets `invalid_grant`) and the gateway answers events sent with the access
    /// tokens still out 403 SKILL_NEVER_ENABLED_EXCEPTION.
    pub fn disable_skill(&mut self, skill_id: &str, user: &str) -> Result<(), WorldError> {
        let e = self.enablement_mut(skill_id, user)?;
        e.enabled = false;
        e.granted = false;
        e.link = None;
        e.session = None;
        self.refresh_tokens
            .retain(|_, (s, u)| !(s == skill_id && u == user));
        Ok(())
    }

    /// Makes the user's account-linking access token for the skill expire now, so that the
    /// next directive makes Alexa refresh it at the skill's token URI.
    pub fn expire_link(&mut self, skill_id: &str, user: &str) -> Result<(), WorldError> {
        let e = self.enablement_mut(skill_id, user)?;
        match e.link.as_mut() {
            Some(link) => {
                link.expires_at = Some(Instant::now());
                Ok(())
            }
            None => Err(WorldError::Invalid(format!(
                "user {user:?} has not linked an account with skill {skill_id}"
            ))),
        }
    }

    /// Expires every LWA access token held for the user now.
    pub fn expire_tokens(&mut self, user: &str, now: Instant) -> Result<usize, WorldError> {
        self.user(user)?;
        let mut n = 0;
        for t in self.access_tokens.values_mut() {
            if matches!(&t.owner, TokenOwner::UserGrant { user: u, .. } if u == user) {
                t.expires_at = now;
                n += 1;
            }
        }
        Ok(n)
    }

    /// A fresh single-use LWA authorization code for the user's grant to the skill, as put in
    /// `AcceptGrant`.
    pub fn mint_grant_code(
        &mut self,
        skill_id: &str,
        user: &str,
        now: Instant,
    ) -> Result<String, WorldError> {
        let e = self.enablement(skill_id, user)?;
        if !e.enabled {
            return Err(WorldError::Invalid(format!(
                "user {user:?} has disabled the skill"
            )));
        }
        let code = format!("AN{}", random_text(15).replace(['-', '_'], "z"));
        self.grant_codes.insert(
            code.clone(),
            GrantCode {
                skill_id: skill_id.to_owned(),
                user: user.to_owned(),
                expires_at: now + self.grant_code_lifetime,
                used: false,
            },
        );
        Ok(code)
    }

    fn skill_by_client(&self, client_id: &str) -> Option<&Skill> {
        self.skills.values().find(|s| s.lwa_client_id == client_id)
    }

    fn issue_access_token(&mut self, owner: TokenOwner, prefix: &str, now: Instant) -> String {
        // Amazon's access tokens are at least 350 characters; clients that truncate them break.
        let token = format!("{prefix}|{}", random_text(270));
        self.access_tokens.insert(
            token.clone(),
            IssuedToken {
                owner,
                expires_at: now + self.access_token_lifetime,
            },
        );
        token
    }

    /// `POST /auth/o2/token`: authenticates the client and answers the grant.
    pub fn lwa_token(
        &mut self,
        client_id: &str,
        client_secret: &str,
        grant: Grant,
        now: Instant,
    ) -> Result<TokenResponse, TokenError> {
        let skill = self
            .skill_by_client(client_id)
            .filter(|s| constant_time_eq(s.lwa_client_secret.as_bytes(), client_secret.as_bytes()))
            .ok_or_else(|| TokenError::new(OAuthErrorCode::InvalidClient, "Client authentication failed"))?;
        let skill_id = skill.skill_id.clone();
        let expires_in = self.access_token_lifetime.as_secs();
        match grant {
            Grant::AuthorizationCode { code, .. } => {
                let invalid = |why: &str| {
                    TokenError::new(
                        OAuthErrorCode::InvalidGrant,
                        format!("The request has an invalid grant parameter : code ({why})"),
                    )
                };
                let c = self
                    .grant_codes
                    .get_mut(&code)
                    .ok_or_else(|| invalid("unknown"))?;
                if c.skill_id != skill_id {
                    return Err(invalid("issued to another client"));
                }
                if c.used {
                    return Err(invalid("already used"));
                }
                if now >= c.expires_at {
                    return Err(invalid("expired"));
                }
                c.used = true;
                let user = c.user.clone();
                if !self.enablement(&skill_id, &user).is_ok_and(|e| e.enabled) {
                    return Err(invalid("the user has disabled the skill"));
                }
                let owner = TokenOwner::UserGrant {
                    skill_id: skill_id.clone(),
                    user: user.clone(),
                };
                let access_token = self.issue_access_token(owner, "Atza", now);
                let refresh_token = format!("Atzr|{}", random_text(270));
                self.refresh_tokens
                    .insert(refresh_token.clone(), (skill_id.clone(), user.clone()));
                if let Ok(e) = self.enablement_mut(&skill_id, &user) {
                    e.granted = true;
                }
                Ok(TokenResponse {
                    access_token,
                    token_type: "bearer".into(),
                    expires_in,
                    refresh_token: Some(refresh_token),
                    scope: None,
                })
            }
            Grant::RefreshToken { refresh_token, .. } => {
                let invalid = || {
                    TokenError::new(
                        OAuthErrorCode::InvalidGrant,
                        "The request has an invalid grant parameter : refresh_token",
                    )
                };
                let (s, user) = self
                    .refresh_tokens
                    .get(&refresh_token)
                    .cloned()
                    .ok_or_else(invalid)?;
                if s != skill_id {
                    return Err(invalid());
                }
                let owner = TokenOwner::UserGrant {
                    skill_id: skill_id.clone(),
                    user,
                };
                let access_token = self.issue_access_token(owner, "Atza", now);
                Ok(TokenResponse {
                    access_token,
                    token_type: "bearer".into(),
                    expires_in,
                    refresh_token: Some(refresh_token),
                    scope: None,
                })
            }
            Grant::ClientCredentials { scope } => {
                if scope != SCOPE_SKILL_MESSAGING && scope != SCOPE_PROACTIVE_EVENTS {
                    return Err(TokenError::new(
                        OAuthErrorCode::InvalidScope,
                        format!("An unknown scope was requested: {scope}"),
                    ));
                }
                let owner = TokenOwner::Client {
                    skill_id,
                    scope: scope.clone(),
                };
                let access_token = self.issue_access_token(owner, "Atc", now);
                Ok(TokenResponse {
                    access_token,
                    token_type: "bearer".into(),
                    expires_in,
                    refresh_token: None,
                    scope: Some(scope),
                })
            }
        }
    }

    /// Who a live LWA access token speaks for.
    pub fn token_owner(&self, token: &str, now: Instant) -> Option<&TokenOwner> {
        self.access_tokens
            .get(token)
            .filter(|t| now < t.expires_at)
            .map(|t| &t.owner)
    }

    /// The gateway's decision on a bearer token: the (skill, user) it may send events for.
    pub fn gateway_user(
        &self,
        token: &str,
        region: Region,
        now: Instant,
    ) -> Result<(String, String), GatewayRefusal> {
        let t = self
            .access_tokens
            .get(token)
            .ok_or_else(|| GatewayRefusal::InvalidToken("The access token is not valid".into()))?;
        if now >= t.expires_at {
            return Err(GatewayRefusal::InvalidToken(
                "The access token has expired".into(),
            ));
        }
        let TokenOwner::UserGrant { skill_id, user } = &t.owner else {
            return Err(GatewayRefusal::InvalidToken(
                "A client-credentials token cannot send events for a user".into(),
            ));
        };
        let skill = self
            .skills
            .get(skill_id)
            .ok_or_else(|| GatewayRefusal::SkillNotFound(format!("Skill {skill_id} was not found")))?;
        let u = self
            .users
            .get(user)
            .ok_or_else(|| GatewayRefusal::AccountNotFound("The account was not found".into()))?;
        let enabled = u.skills.get(skill_id).is_some_and(|e| e.enabled && e.granted);
        if !enabled {
            return Err(GatewayRefusal::NotEnabled(
                "The skill is not enabled for this user".into(),
            ));
        }
        if u.region != region {
            return Err(GatewayRefusal::NotEnabled(format!(
                "The skill is not enabled for this user in region {region}; the user's region is {}",
                u.region
            )));
        }
        if !skill.send_events {
            return Err(GatewayRefusal::InsufficientPermission(
                "The skill does not have the Send Alexa Events permission".into(),
            ));
        }
        Ok((skill_id.clone(), user.clone()))
    }

    /// The skill a client-credentials token of `scope` belongs to.
    pub fn client_skill(&self, token: &str, scope: &str, now: Instant) -> Result<String, String> {
        match self.token_owner(token, now) {
            Some(TokenOwner::Client { skill_id, scope: s }) if s == scope => {
                if self.skills.contains_key(skill_id) {
                    Ok(skill_id.clone())
                } else {
                    Err(format!("Skill {skill_id} was not found"))
                }
            }
            Some(TokenOwner::Client { scope: s, .. }) => {
                Err(format!("The token was issued for scope {s}, not {scope}"))
            }
            Some(TokenOwner::UserGrant { .. }) => Err(format!(
                "A user's token cannot call this API; use a client-credentials token with scope {scope}"
            )),
            None => Err("The access token is invalid or has expired".into()),
        }
    }

    /// A directive reaches one of `user`'s gadgets.
    pub fn deliver_to_gadget(&mut self, user: &str, endpoint_id: &str, directive: Value) {
        let inbox = self
            .gadget_inbox
            .entry((user.to_owned(), endpoint_id.to_owned()))
            .or_default();
        if inbox.len() >= crate::drivers::gadgets::INBOX {
            inbox.pop_front();
        }
        inbox.push_back(directive);
    }

    /// The directives one of `user`'s gadgets received, oldest first.
    pub fn gadget_directives(&self, user: &str, endpoint_id: &str) -> Vec<Value> {
        self.gadget_inbox
            .get(&(user.to_owned(), endpoint_id.to_owned()))
            .map(|i| i.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A fresh `apiAccessToken` for a custom-skill request.
    pub fn mint_api_token(&mut self, skill_id: &str, user: &str, now: Instant) -> String {
        let token = format!("sim.{}", random_text(96));
        self.api_tokens.insert(
            token.clone(),
            ApiToken {
                skill_id: skill_id.to_owned(),
                user: user.to_owned(),
                expires_at: now + self.api_access_token_lifetime,
            },
        );
        token
    }

    /// The (skill, user) of a live `apiAccessToken`.
    pub fn api_token_user(&self, token: &str, now: Instant) -> Option<(String, String)> {
        self.api_tokens
            .get(token)
            .filter(|t| now < t.expires_at)
            .map(|t| (t.skill_id.clone(), t.user.clone()))
    }

    /// Gives the notification to the users it reaches: in `region`, with the skill enabled and
    /// subscribed to its event, and for a Unicast only the user `unicast`. How many it reached.
    pub fn deliver_notification(
        &mut self,
        skill_id: &str,
        region: Region,
        unicast: Option<&str>,
        n: &Notification,
    ) -> usize {
        let mut reached = 0;
        for u in self.users.values_mut().filter(|u| u.region == region) {
            let Some(e) = u.skills.get_mut(skill_id) else {
                continue;
            };
            if unicast.is_some_and(|id| id != e.user_id) || !e.subscribed_to(&n.name) {
                continue;
            }
            e.notify(n.clone());
            reached += 1;
        }
        reached
    }

    /// Records a proactive event's reference id; false if the same skill already sent it to the
    /// same audience in the same stage.
    pub fn remember_reference(
        &mut self,
        skill_id: &str,
        stage: &str,
        audience: &str,
        reference_id: &str,
    ) -> bool {
        self.proactive_references.insert((
            skill_id.to_owned(),
            stage.to_owned(),
            audience.to_owned(),
            reference_id.to_owned(),
        ))
    }
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> (World, Skill) {
        let mut w = World::new(&SimConfig::default());
        let s = w.register_skill(SkillRegistration::default()).unwrap();
        w.add_user("alice", Region::Eu, vec![]).unwrap();
        w.enable(&s.skill_id, "alice").unwrap();
        (w, s)
    }

    fn code_grant(code: &str) -> Grant {
        Grant::AuthorizationCode {
            code: code.into(),
            redirect_uri: None,
            code_verifier: None,
        }
    }

    #[test]
    fn a_grant_code_is_single_use_and_bound_to_its_client() {
        let (mut w, s) = world();
        let now = Instant::now();
        let other = w.register_skill(SkillRegistration::default()).unwrap();
        let code = w.mint_grant_code(&s.skill_id, "alice", now).unwrap();
        let e = w
            .lwa_token(
                &other.lwa_client_id,
                &other.lwa_client_secret,
                code_grant(&code),
                now,
            )
            .unwrap_err();
        assert_eq!(e.error, OAuthErrorCode::InvalidGrant);
        let ok = w
            .lwa_token(&s.lwa_client_id, &s.lwa_client_secret, code_grant(&code), now)
            .unwrap();
        assert!(ok.access_token.starts_with("Atza|") && ok.access_token.len() >= 350);
        assert!(ok.refresh_token.as_deref().unwrap().starts_with("Atzr|"));
        let again = w
            .lwa_token(&s.lwa_client_id, &s.lwa_client_secret, code_grant(&code), now)
            .unwrap_err();
        assert_eq!(again.error, OAuthErrorCode::InvalidGrant);
        assert_eq!(
            w.gateway_user(&ok.access_token, Region::Eu, now),
            Ok((s.skill_id.clone(), "alice".into()))
        );
        assert!(matches!(
            w.gateway_user(&ok.access_token, Region::Na, now),
            Err(GatewayRefusal::NotEnabled(_))
        ));
    }

    #[test]
    fn codes_expire() {
        let (mut w, s) = world();
        let now = Instant::now();
        let code = w.mint_grant_code(&s.skill_id, "alice", now).unwrap();
        let later = now + Duration::from_secs(301);
        let e = w
            .lwa_token(&s.lwa_client_id, &s.lwa_client_secret, code_grant(&code), later)
            .unwrap_err();
        assert!(e.error_description.unwrap().contains("expired"));
    }

    #[test]
    fn wrong_secret_is_invalid_client() {
        let (mut w, s) = world();
        let e = w
            .lwa_token(
                &s.lwa_client_id,
                "nope",
                Grant::ClientCredentials {
                    scope: SCOPE_SKILL_MESSAGING.into(),
                },
                Instant::now(),
            )
            .unwrap_err();
        assert_eq!(e.error, OAuthErrorCode::InvalidClient);
    }

    #[test]
    fn disabling_revokes_tokens_and_refresh() {
        let (mut w, s) = world();
        let now = Instant::now();
        let code = w.mint_grant_code(&s.skill_id, "alice", now).unwrap();
        let t = w
            .lwa_token(&s.lwa_client_id, &s.lwa_client_secret, code_grant(&code), now)
            .unwrap();
        w.disable_skill(&s.skill_id, "alice").unwrap();
        assert!(matches!(
            w.gateway_user(&t.access_token, Region::Eu, now),
            Err(GatewayRefusal::NotEnabled(_))
        ));
        let refresh = Grant::RefreshToken {
            refresh_token: t.refresh_token.unwrap(),
            scope: None,
        };
        assert_eq!(
            w.lwa_token(&s.lwa_client_id, &s.lwa_client_secret, refresh, now)
                .unwrap_err()
                .error,
            OAuthErrorCode::InvalidGrant
        );
    }

    #[test]
    fn expired_tokens_are_refused_and_refresh_mints_a_new_one() {
        let (mut w, s) = world();
        let now = Instant::now();
        let code = w.mint_grant_code(&s.skill_id, "alice", now).unwrap();
        let t = w
            .lwa_token(&s.lwa_client_id, &s.lwa_client_secret, code_grant(&code), now)
            .unwrap();
        w.expire_tokens("alice", now).unwrap();
        assert!(matches!(
            w.gateway_user(&t.access_token, Region::Eu, now),
            Err(GatewayRefusal::InvalidToken(_))
        ));
        let refresh = Grant::RefreshToken {
            refresh_token: t.refresh_token.unwrap(),
            scope: None,
        };
        let fresh = w
            .lwa_token(&s.lwa_client_id, &s.lwa_client_secret, refresh, now)
            .unwrap();
        assert!(w.gateway_user(&fresh.access_token, Region::Eu, now).is_ok());
    }

    #[test]
    fn client_tokens_are_scoped() {
        let (mut w, s) = world();
        let now = Instant::now();
        let scope = Grant::ClientCredentials {
            scope: SCOPE_SKILL_MESSAGING.into(),
        };
        let t = w
            .lwa_token(&s.lwa_client_id, &s.lwa_client_secret, scope, now)
            .unwrap();
        assert_eq!(
            w.client_skill(&t.access_token, SCOPE_SKILL_MESSAGING, now),
            Ok(s.skill_id.clone())
        );
        assert!(
            w.client_skill(&t.access_token, SCOPE_PROACTIVE_EVENTS, now)
                .is_err()
        );
        let bad = Grant::ClientCredentials {
            scope: "profile".into(),
        };
        assert_eq!(
            w.lwa_token(&s.lwa_client_id, &s.lwa_client_secret, bad, now)
                .unwrap_err()
                .error,
            OAuthErrorCode::InvalidScope
        );
    }
}
