//! The goose attack: one scenario per flow, the load shape as a goose test plan, and
//! goose's own extras turned off.
//!
//! Goose keeps process-wide state (its Ctrl-C handler, logger and kill switch), so a
//! process runs one attack. Its telnet and WebSocket controllers stay off (they
//! listen on ports by default in older versions), its per-request metrics are off
//! (the recorder measures instead, body included and without coordinated-omission
//! synthetic samples), and every user shares one HTTP client without cookies, which
//! saves about 170 KB per user.

use std::sync::Arc;

use goose::client::GooseClientBuilder;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;

use crate::context::RunContext;
use crate::scenario::Scenario as LoadScenario;

/// User agent of every request.
pub const USER_AGENT: &str = concat!("athlete-ally-loadgen/", env!("CARGO_PKG_VERSION"));

/// Runs the scenario's load shape to its end (or until Ctrl-C / SIGTERM).
pub async fn run(
    ctx: Arc<RunContext>,
    scenario: &LoadScenario,
    base_url: &str,
) -> Result<(), GooseError> {
    let mut attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .set_client_builder_without_cookies(
            GooseClientBuilder::new()
                .without_cookies()
                .user_agent(USER_AGENT)
                .timeout(scenario.request_timeout)
                .gzip(false),
        )?;
    for flow in &scenario.flows {
        attack = attack.register_scenario(crate::flows::scenario(&ctx, flow)?);
    }
    attack
        .set_default(GooseDefault::Host, base_url)?
        .set_default(GooseDefault::TestPlan, scenario.test_plan().as_str())?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::NoMetrics, true)?
        .set_default(GooseDefault::NoTransactionMetrics, true)?
        .set_default(GooseDefault::NoScenarioMetrics, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::NoErrorSummary, true)?
        .set_default(GooseDefault::Quiet, 1)?
        .execute()
        .await?;
    Ok(())
}

/// Stops the attack early (the same path as Ctrl-C).
pub fn stop(reason: &str) {
    goose::trigger_killswitch(reason);
}
