//! `rask serve`: the rask server: account linking (`/oauth/*`), the smart-home endpoint and
//! device triggers when `[alexa]` is configured, and `/healthz`; over HTTPS when given a
//! certificate, and behind trusted reverse proxies when told which.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use rask_link::Linking;
use rask_store::Store;

use crate::config::{Config, ConfigError};

/// Largest request body rask reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Arguments of `rask serve`.
#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (docs/config.md); without one, the defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, overriding the file; port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT")]
    bind: Option<SocketAddr>,
}

/// Reads the configuration, printing one line per bad key.
pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Config::load(path).map_err(report)
}

/// Every configuration error, one per line.
pub fn report(errors: Vec<ConfigError>) -> anyhow::Error {
    let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    anyhow::anyhow!("the configuration is not valid:\n{}", lines.join("\n"))
}

/// The database of a command that works on what `rask serve` made (`rask status`, `rask user
/// list`, `rask press`, ...): opened as it is, never created, so that a command run from the
/// wrong folder says so instead of making a fresh database and key there.
pub async fn existing_store(config: &Config) -> anyhow::Result<Store> {
    match Store::connect_existing(&config.database.url).await {
        Ok(s) => Ok(s),
        Err(rask_store::StoreError::NoDatabase(path)) => anyhow::bail!(
            "there is no database at {path} (database.url {}): `rask serve` or `rask user add` makes it; \
             run this in the folder rask serve runs in, or pass the --config it runs with",
            rask_store::redact_url(&config.database.url)
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "the database {}",
            rask_store::redact_url(&config.database.url)
        ))),
    }
}

/// Says on standard error which database a command works on.
pub fn say_database(config: &Config) {
    eprintln!("database: {}", rask_store::redact_url(&config.database.url));
}

/// Runs `rask serve`.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    let from_file = args.config.is_some();
    // The embedded default keeps its own data; a database named by the environment is some
    // instance's, whose grants the demo's start would retire.
    if !from_file && std::env::var_os("RASK_DATABASE_URL").is_some() {
        anyhow::bail!(
            "RASK_DATABASE_URL is set, but without --config rask serve runs the embedded demo, which \
             keeps its own database under {}: pass the --config this database belongs to, or unset \
             RASK_DATABASE_URL",
            crate::demo::DATA_DIR
        );
    }
    let mut config = load(args.config.as_deref())?;
    if let Some(b) = args.bind {
        config.server.bind = b;
    }
    // Every secret and file the configuration names is read now: a start either works or
    // says, key by key, what is wrong.
    let problems = config.resolve_problems();
    if !problems.is_empty() {
        return Err(report(problems));
    }
    if let Some(warning) = config.unsigned_rehearsal() {
        tracing::warn!("{warning}");
    }
    let tls = config.tls_identity().map_err(report)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(config.server.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.bind))?;
    let addr = listener.local_addr()?;
    // Without a configuration: the embedded demo, with the simulator as Alexa.
    let demo = match from_file {
        true => None,
        false => {
            let dir = std::path::Path::new(crate::demo::DATA_DIR);
            Some(crate::demo::Embedded::start(&mut config, addr, dir).await?)
        }
    };
    let (app, store) = build(&config, from_file).await?;
    let mut retired = 0;
    if demo.is_some() {
        crate::demo::Embedded::add_user(&store).await?;
        retired = crate::demo::Embedded::retire_earlier_grants(&store).await?;
    }
    crate::sim::say(&format!("rask: listening on {scheme}://{addr}"));
    crate::sim::say(&format!(
        "  account linking:  {scheme}://{addr}/oauth/authorize  (token: /oauth/token)"
    ));
    let smart_home = match config.alexa {
        Some(_) => {
            format!("{scheme}://{addr}/alexa/smarthome, webhooks at /hooks/devices/{{id}}/press and /state")
        }
        None => "off: add [alexa] to the configuration (docs/config.md)".to_owned(),
    };
    crate::sim::say(&format!("  smart home:       {smart_home}"));
    if let Some(skill) = &config.skill {
        let verified = if skill.verify_requests {
            "requests verified"
        } else {
            "requests NOT verified"
        };
        crate::sim::say(&format!(
            "  custom skill:     {scheme}://{addr}/alexa/skill  ({}, {verified})",
            skill.id
        ));
        if !skill.verify_requests {
            tracing::warn!("{}", crate::custom_skill::UNVERIFIED);
            crate::sim::say(&format!("  {}", crate::custom_skill::UNVERIFIED));
        }
    }
    crate::sim::say(&format!(
        "  database:         {}",
        rask_store::redact_url(&config.database.url)
    ));
    let owners = store.owner_names().await.map(|o| o.len()).unwrap_or(0);
    let sign_in = if owners > 0 || std::env::var_os(crate::console::OWNER_PASSWORD_ENV).is_some() {
        "sign in as an owner".to_owned()
    } else {
        format!(
            "no owner yet: {} user add --owner NAME{}",
            crate::invoked::rask(),
            if from_file { " with this --config" } else { "" }
        )
    };
    crate::sim::say(&format!(
        "  owner's console:  {scheme}://{addr}/  ({sign_in}; Prometheus metrics at /metrics)"
    ));
    if let Some(d) = &demo {
        d.print_next_steps(addr, retired);
    }
    let server_config = match tls {
        Some(identity) => Some(identity.server_config()?),
        None => None,
    };
    let limits = crate::listener::Limits {
        header: std::time::Duration::from_secs(config.server.header_timeout_seconds),
        body: std::time::Duration::from_secs(config.server.body_timeout_seconds),
        max_body: MAX_BODY_BYTES,
    };
    crate::listener::serve(
        listener,
        app,
        server_config,
        limits,
        crate::sim::shutdown_signal(),
    )
    .await;
    Ok(true)
}

/// The whole application for `config`: the store opened, housekeeping and the delivery worker
/// started, every route mounted.
pub async fn build(config: &Config, from_file: bool) -> anyhow::Result<(Router, Store)> {
    let link_config = config.link_config().map_err(report)?;
    let store = Store::connect(&config.database.url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            rask_store::redact_url(&config.database.url)
        )
    })?;
    spawn_housekeeping(store.clone(), config.retention.store());
    if link_config.clients.is_empty() {
        tracing::warn!("no [[linking.clients]] configured: account linking will refuse every request");
    }
    let audience = config
        .smart_home_audience(&link_config)
        .map_err(|e| report(vec![e]))?;
    let linking = Linking::new(link_config, store.clone());
    let validator = linking.validator().clone();
    let smart_home = smart_home(
        config,
        from_file,
        &store,
        audience.map(|a| validator.for_audience(a)),
    )
    .await?;
    let (smart_home, states, home) = match smart_home {
        Some((routes, states, home)) => (Some(routes), Some(states), home),
        None => (None, None, crate::custom_skill::Home::default()),
    };
    let console = crate::console::Console::new(
        store.clone(),
        crate::console::Home {
            registry: home
                .controller
                .as_ref()
                .map(|(_, r)| r.clone())
                .unwrap_or_default(),
            states: states.clone(),
            triggers: home.triggers.clone(),
            mqtt: home.publisher.clone(),
            validator: Some(validator.clone()),
        },
        config,
    )
    .await?;
    follow_other_instances(&store, validator, states).await?;
    let metrics = config.metrics_access().map_err(report)?;
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(crate::metrics::router(metrics, store.clone()))
        .merge(crate::console::router(console))
        .merge(rask_link::router(linking));
    if let Some(routes) = smart_home {
        app = app.merge(routes);
    }
    if let Some(section) = &config.skill {
        if let (Some(client_id), Some(secret)) = (
            &section.client_id,
            crate::custom_skill::client_secret(section).map_err(|e| report(vec![e]))?,
        ) {
            // What rask message and the API queue goes out from here, to each user's region.
            let endpoints = crate::custom_skill::endpoints(section);
            let http = rask_cloud::http_client(std::time::Duration::from_secs(10));
            let lwa = std::sync::Arc::new(rask_cloud::lwa::LwaClient::new(
                http.clone(),
                endpoints.token_url(),
                client_id.clone(),
                secret,
            ));
            let client = rask_cloud::services::OutOfSession::new(http, lwa, endpoints);
            let worker = rask_home::out_of_session::ServiceDelivery::new(store.clone(), client);
            let queue = rask_home::service_queue::ServiceQueue::new(store.clone(), section.id.as_str())
                .waking(worker.waker())
                .handing_to(worker.entrance())
                .with_message_key_field(section.message_key_field());
            worker.spawn();
            let keys = crate::api::Keys::resolve(&config.api_keys).map_err(report)?;
            if !keys.is_empty() {
                app = app.merge(crate::api::router(keys, queue, store.clone()));
            }
        }
        let sink = match &section.messages {
            Some(m) => Some(
                crate::custom_skill::messages::MessageSink::start(
                    m,
                    &section.id,
                    store.clone(),
                    config.mqtt.as_ref(),
                )
                .map_err(|e| report(vec![e]))?,
            ),
            None => None,
        };
        let skill = crate::custom_skill::skill(section, &store, home, sink);
        let verifier = crate::custom_skill::verifier(section)?;
        app = app.nest("/alexa/skill", rask_skill::service::router(skill, verifier));
    }
    let proxies = config.trusted_proxies();
    if !proxies.is_empty() {
        let proxies = crate::proxy::TrustedProxies::new(proxies);
        app = app.layer(axum::middleware::from_fn_with_state(
            proxies,
            crate::proxy::forwarded_client,
        ));
    }
    // Body limits and time, request spans and HSTS are the listener's (crate::listener): once
    // per request, not once per route.
    Ok((app, store))
}

/// The smart-home endpoint, the device triggers and the delivery worker, when `[alexa]` is
/// configured; the worker is started here.
async fn smart_home(
    config: &Config,
    from_file: bool,
    store: &Store,
    validator: Option<rask_link::Validator>,
) -> anyhow::Result<Option<(Router, rask_home::state::DeviceStates, crate::custom_skill::Home)>> {
    let Some(alexa) = &config.alexa else {
        return Ok(None);
    };
    let secret = config
        .lwa_secret()
        .map_err(|e| report(vec![e]))?
        .unwrap_or_default();
    let device_secrets = config.device_secrets().map_err(report)?;
    let forwarder_secret = config.forwarder_secret().map_err(|e| report(vec![e]))?;
    // Refused, not replaced, when it does not open what the database holds.
    let sealer = store.sealer(&alexa.secret_key_file).await.with_context(|| {
        if std::env::var_os("RASK_SECRET_KEY").is_some() {
            "the key that seals LWA tokens (RASK_SECRET_KEY, which overrides alexa.secret_key_file)"
                .to_owned()
        } else {
            format!(
                "the key that seals LWA tokens (alexa.secret_key_file = {})",
                alexa.secret_key_file.display()
            )
        }
    })?;
    let endpoints = if alexa.api == "amazon" {
        rask_cloud::region::Endpoints::amazon()
    } else {
        rask_cloud::region::Endpoints::simulator(&alexa.api)
    };
    let http = rask_cloud::http_client(std::time::Duration::from_secs(10));
    let lwa = std::sync::Arc::new(rask_cloud::lwa::LwaClient::new(
        http.clone(),
        endpoints.token_url(),
        alexa.lwa_client_id.clone(),
        secret,
    ));
    let region = rask_model::region::Region::parse(&alexa.region).unwrap_or(rask_model::region::Region::Na);
    let registry = config.registry(from_file);
    let delivery = rask_home::delivery::Delivery::new(
        store.clone(),
        sealer.clone(),
        lwa.clone(),
        rask_cloud::gateway::EventGateway::new(http, endpoints),
    );
    let states = rask_home::state::DeviceStates::new(store.clone());
    let known: Vec<String> = registry.devices().iter().map(|d| d.id.clone()).collect();
    states
        .preload(&known)
        .await
        .context("cannot read the devices' stored states")?;
    let mut triggers =
        rask_home::triggers::Triggers::new(store.clone(), registry.clone(), device_secrets, delivery.waker())
            .with_states(states.clone())
            .handing_to(delivery.entrance());
    triggers.doorbell_life = std::time::Duration::from_secs(alexa.doorbell_life_seconds);
    let mut publisher = None;
    if let Some(m) = &config.mqtt {
        let bridge =
            rask_home::mqtt::MqttBridge::new(&m.url, &m.client_id, config.press_topics(), triggers.clone())?
                .with_states(
                    config.state_topics(),
                    std::sync::Arc::new(registry.clone()),
                    states.clone(),
                )
                .with_broker_inflight(m.broker_max_inflight);
        publisher = Some(bridge.publisher());
        bridge.spawn();
    }
    let mut reporter = rask_home::reports::ChangeReporter::new(
        states.clone(),
        std::sync::Arc::new(registry.clone()),
        delivery.waker(),
    );
    reporter.window = std::time::Duration::from_millis(alexa.change_report_window_ms);
    reporter.spawn();
    let controller = rask_home::control::Controller::new(
        store.clone(),
        states.clone(),
        publisher.clone(),
        delivery.waker(),
    );
    let home = crate::custom_skill::Home {
        triggers: Some(triggers.clone()),
        publisher,
        controller: Some((controller.clone(), registry.clone())),
    };
    {
        // Devices changed since the last start: Alexa hears of it without a new discovery.
        let (store, registry, wake) = (store.clone(), registry.clone(), delivery.waker());
        tokio::spawn(async move {
            match rask_home::discovery::announce_changes(&store, &registry).await {
                Ok(c) if !c.is_empty() => wake.notify_one(),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "the device changes could not be announced"),
            }
        });
    }
    delivery.spawn();
    let mut endpoint =
        rask_home::SmartHome::new(store.clone(), sealer, lwa, registry, region).with_controller(controller);
    if let Some(v) = validator {
        endpoint = endpoint.with_validator(v);
    }
    match forwarder_secret {
        Some(secret) => endpoint = endpoint.with_forwarder_secret(secret),
        None => tracing::info!(
            "no alexa.forwarder_secret_env: /alexa/smarthome takes unsigned directives, as rask sim sends them"
        ),
    }
    Ok(Some((
        rask_home::router(endpoint).merge(rask_home::triggers::router(triggers)),
        states,
        home,
    )))
}

/// On PostgreSQL, what other instances write reaches this one's memory at once: a device state
/// they stored is read again, a link they revoked is refused.
async fn follow_other_instances(
    store: &Store,
    validator: rask_link::Validator,
    states: Option<rask_home::state::DeviceStates>,
) -> anyhow::Result<()> {
    use rask_store::notify::Notice;
    let Some(mut notices) = store
        .watch()
        .await
        .context("cannot listen for other instances' changes")?
    else {
        return Ok(());
    };
    let me = store.instance().to_owned();
    tokio::spawn(async move {
        while let Some(n) = notices.recv().await {
            match n {
                Notice::Devices { instance, ids } if instance != me => {
                    if let Some(s) = &states {
                        s.forget(&ids);
                    }
                }
                Notice::Devices { .. } => {}
                Notice::FamilyRevoked(id) => validator.forget_family(&id),
                Notice::UserRevoked(id) => validator.forget_user(&id),
                Notice::Resync => {
                    validator.forget_all();
                    if let Some(s) = &states {
                        s.forget_all();
                    }
                }
            }
        }
    });
    Ok(())
}

/// Every ten minutes (and once at start): ended sessions, old codes and tokens, and the logs
/// and settled events past `[retention]` go, so that neither time nor anonymous visits can grow
/// the database without end.
fn spawn_housekeeping(store: Store, retention: rask_store::retention::Retention) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            every.tick().await;
            match store.prune(&retention, rask_store::now_ms()).await {
                Ok(p) if p.total() > 0 => tracing::info!(
                    linking_log = p.linking_log,
                    event_log = p.event_log,
                    settled_events = p.settled_events,
                    linking = p.linking,
                    "housekeeping: old rows deleted"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
        }
    });
}
