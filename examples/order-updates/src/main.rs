//! The shop's skill at `POST /alexa/skill` on 127.0.0.1:8080, and `SHIPPED USER_ID ORDER` lines on
//! standard input (what the shop's order system would send) turned into notifications.
//! SKILL_ID, CLIENT_ID, CLIENT_SECRET; SIM_URL for a `rask sim` instead of Amazon;
//! DATABASE_URL (default sqlite://shop-data/shop.db). Verification is left to a proxy here: see
//! examples/counter-skill for a skill that verifies Amazon's signatures itself.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let var = |k: &str| std::env::var(k).map_err(|_| anyhow::anyhow!("set {k}"));
    let database = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://shop-data/shop.db".into());
    let endpoints = match std::env::var("SIM_URL") {
        Ok(sim) => rask_cloud::region::Endpoints::simulator(&sim),
        Err(_) => rask_cloud::region::Endpoints::amazon(),
    };
    let shop = order_updates::Shop {
        skill_id: var("SKILL_ID")?,
        client: (var("CLIENT_ID")?, var("CLIENT_SECRET")?),
        endpoints,
        store: rask_store::Store::connect(&database).await?,
    };
    let queue = shop.notifier();
    let app = axum::Router::new().nest("/alexa/skill", rask_skill::service::router(shop.skill(), None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Standard input on a thread of its own: reading it blocks.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["SHIPPED", user, order] => {
                match order_updates::tell_shipped(&queue, user, order, "The Shop").await {
                    Ok(q) => println!("queued {} for {}", q.id, q.region.as_str()),
                    Err(e) => println!("not sent: {e}"),
                }
            }
            _ => println!("say: SHIPPED USER_ID ORDER"),
        }
    }
    Ok(())
}
