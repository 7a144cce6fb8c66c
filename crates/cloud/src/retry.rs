//! What to do after a gateway answer: a plain decision from the error, the attempts so far and
//! the event's age, so that the delivery worker only carries it out.
//!
//! Amazon's advice: 429, 500 and 503 are retried at most 3 times, at least 1 s apart; 401 means
//! refresh the token once and retry; 403 SKILL_NEVER_ENABLED means stop sending to the user;
//! 403 INSUFFICIENT_PERMISSION is a console setting to fix. A 403 without one of Amazon's codes
//! (a proxy's or a firewall's page) is passing: retried like a 5xx, never a revocation. An event past its useful life
//! (a doorbell press: 30 s) is dropped rather than announced late.

use std::time::Duration;

use crate::gateway::{GatewayCode, GatewayError};

/// The retry settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How many retries after the first attempt for 429, 5xx and transport failures.
    pub max_retries: u32,
    /// The first delay; never less than 1 s for Amazon.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_retries: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Refresh the user's token, then send again (once per event).
    RefreshAndRetry,
    /// Send again after this delay.
    RetryAfter(Duration),
    /// Give the event up, for this reason.
    Drop(String),
    /// The user disabled the skill: mark the grant revoked and stop sending to them.
    RevokeGrant(String),
    /// A console setting is wrong: drop the event, keep the grant, say so loudly.
    Alert(String),
}

/// Decides after a failed attempt. `retries` is how many retries were already made,
/// `refreshed` whether the token was already refreshed for this event, `jitter` a number in
/// [0, 1) that spreads the retries of many events.
pub fn decide(
    policy: &Policy,
    error: &GatewayError,
    retries: u32,
    refreshed: bool,
    age: Duration,
    useful_life: Duration,
    jitter: f64,
) -> Decision {
    let retryable = |why: String| {
        if retries >= policy.max_retries {
            return Decision::Drop(format!("{why}; gave up after {} retries", policy.max_retries));
        }
        let backoff = policy
            .base_delay
            .saturating_mul(1 << retries.min(16))
            .min(policy.max_delay);
        let delay = backoff
            .mul_f64(1.0 + jitter.clamp(0.0, 1.0) * 0.5)
            .max(policy.base_delay);
        if age + delay >= useful_life {
            return Decision::Drop(format!(
                "{why}; the next try would be past the event's useful life of {} s",
                useful_life.as_secs()
            ));
        }
        Decision::RetryAfter(delay)
    };
    match error {
        GatewayError::Transport(e) => retryable(format!("the gateway could not be reached: {e}")),
        GatewayError::Rejected { code, description, status } => match code {
            GatewayCode::Throttling | GatewayCode::InternalService | GatewayCode::ServiceUnavailable => {
                retryable(format!("the gateway answered {status} {code:?}"))
            }
            GatewayCode::ForbiddenWithoutCode => retryable(format!(
                "the gateway's address answered {status} without Amazon's error code ({description})"
            )),
            GatewayCode::InvalidAccessToken if !refreshed => Decision::RefreshAndRetry,
            GatewayCode::InvalidAccessToken => Decision::Drop("the gateway refused a freshly refreshed token".into()),
            GatewayCode::SkillNeverEnabled => Decision::RevokeGrant(format!("the user disabled the skill (or its region changed): {description}")),
            GatewayCode::InsufficientPermission => Decision::Alert(
                "the skill lacks the \"Send Alexa Events\" permission: turn it on in the developer console (Build > Permissions)".into(),
            ),
            other => Decision::Drop(format!("the gateway refused the event: {status} {other:?}: {description}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(code: GatewayCode, status: u16) -> GatewayError {
        GatewayError::Rejected {
            status,
            code,
            description: "d".into(),
        }
    }

    const LIFE: Duration = Duration::from_secs(30);

    #[test]
    fn throttling_backs_off_at_least_a_second_then_gives_up() {
        let p = Policy::default();
        let e = rejected(GatewayCode::Throttling, 429);
        let delays: Vec<_> = (0..3)
            .map(|r| match decide(&p, &e, r, false, Duration::ZERO, LIFE, 0.0) {
                Decision::RetryAfter(d) => d,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            delays,
            [
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
        assert!(
            matches!(decide(&p, &e, 3, false, Duration::ZERO, LIFE, 0.0), Decision::Drop(why) if why.contains("gave up after 3"))
        );
        assert!(
            matches!(decide(&p, &e, 0, false, Duration::ZERO, LIFE, 0.99), Decision::RetryAfter(d) if d > Duration::from_secs(1))
        );
    }

    #[test]
    fn nothing_is_retried_past_its_useful_life() {
        let p = Policy::default();
        let e = rejected(GatewayCode::InternalService, 500);
        assert!(
            matches!(decide(&p, &e, 0, false, Duration::from_secs(29), LIFE, 0.0), Decision::Drop(why) if why.contains("useful life"))
        );
        let t = GatewayError::Transport("refused".into());
        assert!(matches!(
            decide(&p, &t, 0, false, Duration::ZERO, LIFE, 0.0),
            Decision::RetryAfter(_)
        ));
    }

    #[test]
    fn each_403_means_something_else() {
        let p = Policy::default();
        assert!(matches!(
            decide(
                &p,
                &rejected(GatewayCode::SkillNeverEnabled, 403),
                0,
                false,
                Duration::ZERO,
                LIFE,
                0.0
            ),
            Decision::RevokeGrant(_)
        ));
        assert!(
            matches!(decide(&p, &rejected(GatewayCode::InsufficientPermission, 403), 0, false, Duration::ZERO, LIFE, 0.0), Decision::Alert(m) if m.contains("Send Alexa Events"))
        );
        // A 403 that is not Amazon's is retried, never a revocation.
        assert!(matches!(
            decide(
                &p,
                &rejected(GatewayCode::ForbiddenWithoutCode, 403),
                0,
                false,
                Duration::ZERO,
                LIFE,
                0.0
            ),
            Decision::RetryAfter(_)
        ));
        // The code decides, not the status: SKILL_NEVER_ENABLED with a 400 is still a revocation.
        assert!(matches!(
            decide(
                &p,
                &rejected(GatewayCode::SkillNeverEnabled, 400),
                0,
                false,
                Duration::ZERO,
                LIFE,
                0.0
            ),
            Decision::RevokeGrant(_)
        ));
    }

    #[test]
    fn a_401_refreshes_once() {
        let p = Policy::default();
        let e = rejected(GatewayCode::InvalidAccessToken, 401);
        assert_eq!(
            decide(&p, &e, 0, false, Duration::ZERO, LIFE, 0.0),
            Decision::RefreshAndRetry
        );
        assert!(matches!(
            decide(&p, &e, 0, true, Duration::ZERO, LIFE, 0.0),
            Decision::Drop(_)
        ));
        assert!(matches!(
            decide(
                &p,
                &rejected(GatewayCode::InvalidRequest, 400),
                0,
                false,
                Duration::ZERO,
                LIFE,
                0.0
            ),
            Decision::Drop(_)
        ));
    }
}
