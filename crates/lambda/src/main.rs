//! The `rask-lambda` executable: deployed as a Lambda function's `bootstrap` (runtime
//! `provided.al2023`), one per Alexa region. docs/deploy.md shows how.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use rask_lambda::forward::Outcome;
use rask_lambda::{Forwarder, Settings};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_ansi(false)
        .without_time() // CloudWatch stamps every line
        .with_target(false)
        .init();
    let forwarder = match Settings::from_env(|k| std::env::var(k).ok()).and_then(Forwarder::new) {
        Ok(f) => f,
        Err(e) => {
            // Lambda reports the exit as Runtime.ExitError; this line in CloudWatch says why.
            tracing::error!("rask-lambda cannot start: {e}");
            std::process::exit(1);
        }
    };
    let forwarder = &forwarder;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let name = format!(
            "{}.{}",
            event.payload["directive"]["header"]["namespace"]
                .as_str()
                .unwrap_or("?"),
            event.payload["directive"]["header"]["name"]
                .as_str()
                .unwrap_or("?")
        );
        let started = std::time::Instant::now();
        let deadline =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline);
        let (answer, outcome) = forwarder
            .forward(&event.payload, &event.context.request_id, Some(deadline))
            .await;
        let ms = started.elapsed().as_millis();
        match outcome {
            Outcome::Answered(status) => tracing::info!("{name}: rask answered HTTP {status} in {ms} ms"),
            Outcome::Unreachable(why) => tracing::error!("{name}: BRIDGE_UNREACHABLE after {ms} ms: {why}"),
            Outcome::Garbage(why) => tracing::error!("{name}: INTERNAL_ERROR after {ms} ms: {why}"),
        }
        Ok::<Value, Error>(answer)
    }))
    .await
}
