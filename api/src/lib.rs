//! The Athlete Ally HTTP API as both sides see it: the reference services serve it
//! and the load generator's flows call it, so a path, a step or a status is
//! written once.
//!
//! - [`paths`]: the gateway's public routes and every service's health route.
//! - [`OnboardingStep`]: the onboarding steps, in order.
//! - [`PlanStatus`]: the states of a plan job.

#![warn(missing_docs)]

/// Routes of the gateway's public API and of every service.
pub mod paths {
    /// Liveness of every service (and of the metrics port).
    pub const HEALTH: &str = "/health";
    /// The gateway's API health (names the queue in use).
    pub const API_HEALTH: &str = "/api/health";
    /// `POST {"athleteId"}`: a bearer token for a test athlete.
    pub const AUTH_TOKEN: &str = "/api/v1/auth/token";
    /// `POST {"step", "data"}`: one onboarding step; `GET`: the profile so far.
    pub const ONBOARDING: &str = "/api/v1/onboarding";
    /// `POST`: queue a plan job (202 with its `jobId`).
    pub const PLANS_GENERATE: &str = "/api/v1/plans/generate";
    /// `GET ?jobId=`: a plan job's status.
    pub const PLANS_STATUS: &str = "/api/v1/plans/status";
    /// Fault injection on every service (`GET`, `PUT`).
    pub const ADMIN_FAULTS: &str = "/admin/faults";
}

/// The onboarding steps, in the order an athlete takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OnboardingStep {
    /// What the athlete trains for.
    PurposeSelection,
    /// How experienced they are.
    Proficiency,
    /// What they train with.
    Equipment,
    /// When they can train.
    Availability,
    /// Finishes onboarding (needs the four others).
    Complete,
}

impl OnboardingStep {
    /// Every step, in order.
    pub const ALL: [OnboardingStep; 5] = [
        OnboardingStep::PurposeSelection,
        OnboardingStep::Proficiency,
        OnboardingStep::Equipment,
        OnboardingStep::Availability,
        OnboardingStep::Complete,
    ];

    /// The step's name in requests and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            OnboardingStep::PurposeSelection => "purpose_selection",
            OnboardingStep::Proficiency => "proficiency",
            OnboardingStep::Equipment => "equipment",
            OnboardingStep::Availability => "availability",
            OnboardingStep::Complete => "complete",
        }
    }

    /// The step named `name`.
    pub fn parse(name: &str) -> Option<OnboardingStep> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The states of a plan job, as `GET /api/v1/plans/status` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanStatus {
    /// Waiting for the planning engine.
    Queued,
    /// Being generated.
    Running,
    /// Failed once, waiting for its redelivery.
    Retrying,
    /// Done, with the plan.
    Completed,
    /// Failed for good, with the reason.
    Failed,
}

impl PlanStatus {
    /// Every status.
    pub const ALL: [PlanStatus; 5] = [
        PlanStatus::Queued,
        PlanStatus::Running,
        PlanStatus::Retrying,
        PlanStatus::Completed,
        PlanStatus::Failed,
    ];

    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Queued => "queued",
            PlanStatus::Running => "running",
            PlanStatus::Retrying => "retrying",
            PlanStatus::Completed => "completed",
            PlanStatus::Failed => "failed",
        }
    }

    /// The status written `text`.
    pub fn parse(text: &str) -> Option<PlanStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the job is finished (completed or failed).
    pub fn is_final(self) -> bool {
        matches!(self, PlanStatus::Completed | PlanStatus::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for s in OnboardingStep::ALL {
            assert_eq!(OnboardingStep::parse(s.as_str()), Some(s));
        }
        for s in PlanStatus::ALL {
            assert_eq!(PlanStatus::parse(s.as_str()), Some(s));
        }
        assert!(PlanStatus::Failed.is_final() && !PlanStatus::Retrying.is_final());
    }
}
