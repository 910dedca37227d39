//! The peer of the load engine benchmark: a plain goose load test with goose's
//! defaults (its own per-request metrics, a client per user), one transaction that
//! requests `GET /api/health`. Goose's own command line: `--host`, `--users`,
//! `--increase-rate`, `--run-time`, ...

use goose::prelude::*;

async fn health(user: &mut GooseUser) -> TransactionResult {
    let _goose = user.get("/api/health").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(scenario!("health").register_transaction(transaction!(health)))
        .execute()
        .await?;
    Ok(())
}
