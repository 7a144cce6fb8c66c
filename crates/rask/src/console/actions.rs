//! What the owner can do from the console, each asked first (a page with one button) and
//! written to the owners' action log and rask's own: press a doorbell, revoke a user's links,
//! send a dropped event again, announce the devices to a user again, send a test ChangeReport.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::{CsrfForm, Signed};
use super::{Console, Frame, render};

#[derive(askama::Template)]
#[template(path = "console/confirm.html")]
struct Confirm {
    f: Frame,
    question: String,
    action: String,
    button: String,
    back: &'static str,
}

#[derive(askama::Template)]
#[template(path = "console/done.html")]
struct Done {
    f: Frame,
    said: String,
    class: &'static str,
    back: &'static str,
}

/// `s` as one path segment: every character that means something in a URL encoded.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Writes an action to the owners' log and rask's; a log that cannot be written is said in
/// rask's own, never a reason to undo what was done.
pub(super) async fn log(c: &Console, owner: &str, action: &str, detail: &str) {
    tracing::info!(owner, action, "console: {detail}");
    if let Err(e) = c.0.store.log_owner_action(owner, action, detail).await {
        tracing::error!(error = %e, "a console action could not be logged");
    }
}

/// The page that asks before `action` is posted, with its one button.
fn ask(
    session: &Signed,
    title: &str,
    back: &'static str,
    question: String,
    action: String,
    button: &str,
) -> Response {
    render(Confirm {
        f: Frame::page(title, back, session),
        question,
        action,
        button: button.into(),
        back,
    })
}

/// 404, said on a page: `what` is not there.
fn missing(session: &Signed, what: &str, back: &'static str) -> Response {
    done(session, StatusCode::NOT_FOUND, what.into(), false, back)
}

fn done(session: &Signed, status: StatusCode, said: String, ok: bool, back: &'static str) -> Response {
    let mut r = render(Done {
        f: Frame::page("Done", "", session),
        said,
        class: if ok { "good" } else { "bad" },
        back,
    });
    *r.status_mut() = status;
    r
}

/// The doorbell `id`, when it is one and presses can be queued.
fn doorbell<'a>(c: &'a Console, id: &str) -> Option<&'a rask_home::Device> {
    c.0.home
        .registry
        .get(id)
        .filter(|d| d.kind == rask_home::devices::DeviceKind::Doorbell && c.0.home.triggers.is_some())
}

/// `GET /devices/{id}/press`: asks.
pub(super) async fn press_page(
    State(c): State<Console>,
    session: Signed,
    Path(id): Path<String>,
) -> Response {
    let Some(d) = doorbell(&c, &id) else {
        return missing(&session, "There is no such doorbell.", "/devices");
    };
    ask(
        &session,
        &format!("Press {}", d.name),
        "/devices",
        format!(
            "Press {} now? Every Echo of every user with an active grant announces it.",
            d.name
        ),
        format!("/devices/{}/press", segment(&d.id)),
        "Press",
    )
}

/// `POST /devices/{id}/press`.
pub(super) async fn press(
    State(c): State<Console>,
    session: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(forged) = session.check(&form.csrf) {
        return forged.into_response();
    }
    let (Some(d), Some(triggers)) = (doorbell(&c, &id), &c.0.home.triggers) else {
        return missing(&session, "There is no such doorbell.", "/devices");
    };
    match triggers.press(&d.id).await {
        Ok(0) => {
            log(&c, &session.owner, "press", &format!("{}: nobody granted", d.id)).await;
            done(
                &session,
                StatusCode::CONFLICT,
                format!(
                    "{} was pressed, but nobody hears it: no user has an active grant (see Users).",
                    d.name
                ),
                false,
                "/devices",
            )
        }
        Ok(n) => {
            log(
                &c,
                &session.owner,
                "press",
                &format!("{}: {n} events queued", d.id),
            )
            .await;
            done(
                &session,
                StatusCode::OK,
                format!(
                    "{} pressed: {n} event{} queued for Alexa (see Events).",
                    d.name,
                    if n == 1 { "" } else { "s" }
                ),
                true,
                "/devices",
            )
        }
        Err(e) => done(
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The press could not be stored: {e}"),
            false,
            "/devices",
        ),
    }
}

/// `GET /users/{name}/revoke`: asks.
pub(super) async fn revoke_page(
    State(c): State<Console>,
    session: Signed,
    Path(name): Path<String>,
) -> Response {
    let Ok(Some(u)) = c.0.store.user_by_name(&name).await else {
        return missing(&session, "There is no such user.", "/users");
    };
    ask(
        &session,
        &format!("Revoke {}'s links", u.name),
        "/users",
        format!(
            "Revoke every link of {}? Alexa's tokens for them stop working at once and the Alexa app asks them to link the account again.",
            u.name
        ),
        format!("/users/{}/revoke", segment(&u.name)),
        "Revoke",
    )
}

/// `POST /users/{name}/revoke`.
pub(super) async fn revoke(
    State(c): State<Console>,
    session: Signed,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(forged) = session.check(&form.csrf) {
        return forged.into_response();
    }
    let store = &c.0.store;
    let Ok(Some(u)) = store.user_by_name(&name).await else {
        return missing(&session, "There is no such user.", "/users");
    };
    let reason = format!("revoked by the owner {} (console)", session.owner);
    let n = match store
        .revoke_user_links(&u.id, &reason, rask_store::now_ms())
        .await
    {
        Ok(n) => n,
        Err(e) => {
            return done(
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Nothing was revoked: {e}"),
                false,
                "/users",
            );
        }
    };
    if let Some(v) = &c.0.home.validator {
        v.forget_user(&u.id);
    }
    let entry = rask_store::link_log::LogEntry {
        id: 0,
        at: rask_store::now_ms(),
        client_id: None,
        user_name: Some(u.name.clone()),
        remote: Some("console".into()),
        step: "revoke".into(),
        ok: true,
        detail: format!("{n} link(s) {reason}"),
    };
    if let Err(e) = store.log_link_step(&entry).await {
        tracing::error!(error = %e, "the linking log could not be written");
    }
    log(
        &c,
        &session.owner,
        "revoke-link",
        &format!("{}: {n} link(s)", u.name),
    )
    .await;
    done(
        &session,
        StatusCode::OK,
        format!("{}: {n} link{} revoked.", u.name, if n == 1 { "" } else { "s" }),
        true,
        "/users",
    )
}

/// `GET /events/{id}/resend`: asks.
pub(super) async fn resend_page(
    State(c): State<Console>,
    session: Signed,
    Path(id): Path<String>,
) -> Response {
    if c.0.home.triggers.is_none() {
        return missing(&session, "Smart-home events are off.", "/events");
    }
    ask(
        &session,
        "Send an event again",
        "/events",
        format!(
            "Send event {} again? It goes to Alexa only if it is still within its useful life (a doorbell press lives 30 s).",
            rask_model::limits::logged(&id)
        ),
        format!("/events/{}/resend", segment(&id)),
        "Send again",
    )
}

/// `POST /events/{id}/resend`.
pub(super) async fn resend(
    State(c): State<Console>,
    session: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    use rask_store::activity::Resend;
    if let Err(forged) = session.check(&form.csrf) {
        return forged.into_response();
    }
    let Some(triggers) = &c.0.home.triggers else {
        return missing(&session, "Smart-home events are off.", "/events");
    };
    let shown = rask_model::limits::logged(&id).into_owned();
    let (status, said, ok) = match triggers.resend(&id).await {
        Ok(Resend::Queued) => (
            StatusCode::OK,
            format!("Event {shown} is queued again (see Events)."),
            true,
        ),
        Ok(Resend::Expired) => (
            StatusCode::CONFLICT,
            format!("Event {shown} is past its useful life: it is not sent."),
            false,
        ),
        Ok(Resend::NotDropped) => (
            StatusCode::CONFLICT,
            format!("Event {shown} was not dropped (it is pending or was delivered): it is not sent again."),
            false,
        ),
        Ok(Resend::Unknown) => (
            StatusCode::NOT_FOUND,
            format!("There is no event {shown}."),
            false,
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Nothing was sent: {e}"),
            false,
        ),
    };
    log(&c, &session.owner, "resend-event", &format!("{shown}: {said}")).await;
    done(&session, status, said, ok, "/events")
}

/// `GET /users/{name}/rediscover`: asks.
pub(super) async fn rediscover_page(
    State(c): State<Console>,
    session: Signed,
    Path(name): Path<String>,
) -> Response {
    let (Ok(Some(u)), Some(_)) = (c.0.store.user_by_name(&name).await, &c.0.home.triggers) else {
        return missing(
            &session,
            "There is no such user, or smart-home events are off.",
            "/users",
        );
    };
    ask(
        &session,
        &format!("Announce the devices to {}", u.name),
        "/users",
        format!(
            "Send {} every device again (an AddOrUpdateReport)? Their Alexa app then lists the devices as rask has them now.",
            u.name
        ),
        format!("/users/{}/rediscover", segment(&u.name)),
        "Announce",
    )
}

/// `POST /users/{name}/rediscover`.
pub(super) async fn rediscover(
    State(c): State<Console>,
    session: Signed,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(forged) = session.check(&form.csrf) {
        return forged.into_response();
    }
    let (Ok(Some(u)), Some(triggers)) = (c.0.store.user_by_name(&name).await, &c.0.home.triggers) else {
        return missing(
            &session,
            "There is no such user, or smart-home events are off.",
            "/users",
        );
    };
    match triggers.rediscover(&u.id).await {
        Ok(n) => {
            log(
                &c,
                &session.owner,
                "rediscover",
                &format!("{}: {n} report(s)", u.name),
            )
            .await;
            done(
                &session,
                StatusCode::OK,
                format!(
                    "The devices are announced to {} again: {n} report{} queued (see Events).",
                    u.name,
                    if n == 1 { "" } else { "s" }
                ),
                true,
                "/users",
            )
        }
        Err(e) => done(
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Nothing was queued: {e}"),
            false,
            "/users",
        ),
    }
}

/// The device `id`, when it reports state and reports can be queued.
fn reporting<'a>(c: &'a Console, id: &str) -> Option<&'a rask_home::Device> {
    c.0.home
        .registry
        .get(id)
        .filter(|d| !d.kind.properties().is_empty() && c.0.home.triggers.is_some())
}

/// `GET /devices/{id}/report`: asks.
pub(super) async fn report_page(
    State(c): State<Console>,
    session: Signed,
    Path(id): Path<String>,
) -> Response {
    let Some(d) = reporting(&c, &id) else {
        return missing(&session, "There is no such device with a state.", "/devices");
    };
    ask(
        &session,
        &format!("Test ChangeReport of {}", d.name),
        "/devices",
        format!(
            "Send Alexa a ChangeReport of {} as it is now, as though it had changed in the app? Routines that follow it run.",
            d.name
        ),
        format!("/devices/{}/report", segment(&d.id)),
        "Send",
    )
}

/// `POST /devices/{id}/report`.
pub(super) async fn report(
    State(c): State<Console>,
    session: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(forged) = session.check(&form.csrf) {
        return forged.into_response();
    }
    let (Some(d), Some(triggers)) = (reporting(&c, &id), &c.0.home.triggers) else {
        return missing(&session, "There is no such device with a state.", "/devices");
    };
    let (status, said, ok) = match triggers.test_change_report(&d.id).await {
        Ok(None) => (
            StatusCode::CONFLICT,
            format!("{} has reported no state yet: there is nothing to send.", d.name),
            false,
        ),
        Ok(Some(0)) => (
            StatusCode::CONFLICT,
            "Nobody hears it: no user has an active grant (see Users).".to_owned(),
            false,
        ),
        Ok(Some(n)) => (
            StatusCode::OK,
            format!(
                "A ChangeReport of {} is queued for {n} user{} (see Events).",
                d.name,
                if n == 1 { "" } else { "s" }
            ),
            true,
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Nothing was queued: {e}"),
            false,
        ),
    };
    log(
        &c,
        &session.owner,
        "test-change-report",
        &format!("{}: {said}", d.id),
    )
    .await;
    done(&session, status, said, ok, "/devices")
}
