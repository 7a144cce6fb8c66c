//! A shop's custom skill in Rust that tells each customer when an order ships, as an Alexa
//! notification in the customer's own region, using the same parts `rask serve` does:
//!
//! - the skill (rask-skill): "Alexa, open my shop"; each request records the user's region
//!   ([`rask_skill::StorePersistence`]) and what they said about notifications;
//! - [`rask_home::service_queue::ServiceQueue`]: checks an `AMAZON.OrderStatus.Updated` event
//!   against Amazon's rules and the user's region and subscriptions, and stores it;
//! - [`rask_home::out_of_session::ServiceDelivery`]: sends what is stored, with the skill's
//!   client credentials (LWA, cached per scope), retrying as Amazon advises.

use std::sync::Arc;
use std::time::Duration;

use rask_cloud::lwa::LwaClient;
use rask_cloud::region::Endpoints;
use rask_cloud::services::OutOfSession;
use rask_home::out_of_session::ServiceDelivery;
use rask_home::service_queue::{Queued, Refusal, ServiceQueue};
use rask_model::proactive::{ProactiveEvent, ProactiveEventRequest, RelevantAudience};
use rask_skill::{HandlerError, HandlerInput, ResponseBuilder, Skill, StorePersistence};
use rask_store::Store;
use serde_json::json;

/// What the shop needs to know.
pub struct Shop {
    /// The skill's id.
    pub skill_id: String,
    /// The skill's client (its Permissions page) and secret.
    pub client: (String, String),
    /// Amazon's hosts, or a `rask sim`'s.
    pub endpoints: Endpoints,
    /// Where users' regions and the outbox are kept.
    pub store: Store,
}

async fn launch(_: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
    Ok(ResponseBuilder::new()
        .speak("Welcome to the shop. I will tell you when your orders ship.")
        .end_session(Some(true)))
}

impl Shop {
    /// The skill, recording each user's region as it answers them.
    pub fn skill(&self) -> Skill {
        Skill::builder()
            .skill_id(self.skill_id.clone())
            .persistence(StorePersistence::new(self.store.clone(), self.skill_id.clone()))
            .on_launch(launch)
            .build()
    }

    /// Starts the delivery worker and returns the queue that feeds it.
    pub fn notifier(&self) -> ServiceQueue {
        let http = rask_cloud::http_client(Duration::from_secs(10));
        let lwa = Arc::new(LwaClient::new(
            http.clone(),
            self.endpoints.token_url(),
            self.client.0.clone(),
            self.client.1.clone(),
        ));
        let worker = ServiceDelivery::new(
            self.store.clone(),
            OutOfSession::new(http, lwa, self.endpoints.clone()),
        );
        let queue = ServiceQueue::new(self.store.clone(), self.skill_id.as_str()).waking(worker.waker());
        worker.spawn();
        queue
    }
}

/// "Your order from {seller} has been shipped": Amazon's `AMAZON.OrderStatus.Updated`, for
/// one customer, with the seller's name localized for en-US.
pub fn order_shipped(user_id: &str, order: &str, seller: &str) -> ProactiveEventRequest {
    let now = time::OffsetDateTime::now_utc();
    ProactiveEventRequest {
        timestamp: rask_model::timestamp::seconds(now),
        reference_id: format!("order-{order}-shipped"),
        expiry_time: rask_model::timestamp::seconds(now + time::Duration::hours(6)),
        event: ProactiveEvent {
            name: "AMAZON.OrderStatus.Updated".into(),
            payload: json!({
                "state": {"status": "ORDER_SHIPPED"},
                "order": {"seller": {"name": "localizedattribute:sellerName"}}
            }),
        },
        localized_attributes: vec![
            serde_json::from_value(json!({"locale": "en-US", "sellerName": seller})).unwrap_or_default(),
        ],
        relevant_audience: RelevantAudience::unicast(user_id),
    }
}

/// Queues the notification that `order` shipped; refused (saying why) for a customer who never
/// opened the skill, disabled it, or turned its order notifications off.
pub async fn tell_shipped(
    queue: &ServiceQueue,
    user_id: &str,
    order: &str,
    seller: &str,
) -> Result<Queued, Refusal> {
    let mut queued = queue
        .notify(&order_shipped(user_id, order, seller), false)
        .await?;
    Ok(queued.remove(0))
}
