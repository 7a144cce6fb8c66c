//! A rask account-linking server on loopback over a fresh store, and an HTTP client that walks
//! its pages the way a browser does.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use rask_link::secret::Secret;
use rask_link::{ClientAuth, ClientConfig, LinkConfig, Linking};
use rask_store::Store;
use serde_json::Value;

pub const CLIENT: &str = "alexa";
pub const SECRET: &str = "client-secret-123";
pub const BODY_CLIENT: &str = "alexa-body";
/// A client whose secret has the characters form-encoding changes, as base64 secrets do.
pub const PLUS_CLIENT: &str = "alexa-plus";
pub const PLUS_SECRET: &str = "ab+cd/ef%2B==";
pub const VENDOR: &str = "M2AAAAAAAAAAAA";
pub const REDIRECT: &str = "https://layla.amazon.com/api/skill/link/M2AAAAAAAAAAAA";
pub const PASSWORD: &str = "correct horse battery";

pub fn config() -> LinkConfig {
    let client = |id: &str, auth| ClientConfig {
        id: id.into(),
        secret: Secret::new(SECRET),
        name: "Alexa".into(),
        vendor_ids: vec![VENDOR.into()],
        redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
        scopes: vec!["smart_home".into(), "profile".into()],
        auth,
    };
    let mut plus = client(PLUS_CLIENT, ClientAuth::Either);
    plus.secret = Secret::new(PLUS_SECRET);
    LinkConfig {
        clients: vec![
            client(CLIENT, ClientAuth::Basic),
            client(BODY_CLIENT, ClientAuth::Body),
            plus,
        ],
        ..Default::default()
    }
}

pub struct Server {
    pub url: String,
    pub store: Store,
    /// The server's own validator: it sees the server's revocations at once.
    pub validator: rask_link::Validator,
}

impl Server {
    pub async fn start(store: Store) -> Server {
        Self::with_config(store, config()).await
    }

    pub async fn with_config(store: Store, config: LinkConfig) -> Server {
        if store.user_by_name("alice").await.unwrap().is_none() {
            let hash = rask_link::password::hash(PASSWORD).unwrap();
            store
                .add_user(&uuid::Uuid::new_v4().to_string(), "alice", &hash)
                .await
                .unwrap();
        }
        let linking = Linking::new(config, store.clone());
        let validator = linking.validator().clone();
        let app = rask_link::router(linking);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        Server {
            url: format!("http://{addr}"),
            store,
            validator,
        }
    }

    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    pub fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut u = url::Url::parse(&format!("{}/oauth/authorize", self.url)).unwrap();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("client_id", CLIENT)
                .append_pair("response_type", "code")
                .append_pair("state", "st4te")
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("scope", "smart_home");
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        u.to_string()
    }

    /// Walks login and consent; returns the final response (the redirect to Alexa).
    pub async fn walk(&self, b: &reqwest::Client, url: &str, password: &str) -> reqwest::Response {
        let page = b.get(url).send().await.unwrap();
        assert_eq!(page.status(), 200, "authorize page");
        let html = page.text().await.unwrap();
        let login = self.submit(b, &html, |f| f.fill_login("alice", password)).await;
        assert_eq!(login.status(), 200, "consent page");
        let html = login.text().await.unwrap();
        self.submit(b, &html, |f| f.fill_consent()).await
    }

    pub async fn submit(
        &self,
        b: &reqwest::Client,
        html: &str,
        fill: impl Fn(&rask_sim::drivers::form::Form) -> Vec<(String, String)>,
    ) -> reqwest::Response {
        let forms = rask_sim::drivers::form::forms(html);
        let form = forms.first().expect("a form on the page");
        b.post(format!("{}{}", self.url, form.action.as_deref().unwrap()))
            .form(&fill(form))
            .send()
            .await
            .unwrap()
    }

    /// The code from a redirect to Alexa.
    pub fn code_of(r: &reqwest::Response) -> String {
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with(REDIRECT), "{loc}");
        let u = url::Url::parse(loc).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q.get("state").map(String::as_str), Some("st4te"));
        q.get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code in {loc}"))
    }

    pub async fn code(&self, extra: &[(&str, &str)]) -> String {
        let b = self.browser();
        let r = self.walk(&b, &self.authorize_url(extra), PASSWORD).await;
        assert_eq!(r.status(), 302, "redirect to Alexa");
        Self::code_of(&r)
    }

    pub async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut r = reqwest::Client::new()
            .post(format!("{}/oauth/token", self.url))
            .form(form);
        if let Some((id, secret)) = basic {
            r = r.basic_auth(id, Some(secret));
        }
        let r = r.send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, r.json().await.unwrap_or(Value::Null), headers)
    }

    pub async fn exchange(&self, code: &str) -> Value {
        let (s, v, _) = self
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                ],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }
}
