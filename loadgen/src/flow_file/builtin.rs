//! The shipped flows, compiled into the binary so a scenario can name them from
//! any directory: `scenarios/flows/onboarding.toml`, `plans.toml` and
//! `health.toml` in the repository, read here as they are.

/// A flow the binary carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuiltIn {
    /// Its name in a scenario (`[[flows]] name = "onboarding"`).
    pub name: &'static str,
    /// Where it lives in the repository (for errors and `loadgen check`).
    pub path: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// Every shipped flow.
pub const ALL: [BuiltIn; 3] = [
    BuiltIn {
        name: "onboarding",
        path: "scenarios/flows/onboarding.toml",
        text: include_str!("../../../scenarios/flows/onboarding.toml"),
    },
    BuiltIn {
        name: "plans",
        path: "scenarios/flows/plans.toml",
        text: include_str!("../../../scenarios/flows/plans.toml"),
    },
    BuiltIn {
        name: "health",
        path: "scenarios/flows/health.toml",
        text: include_str!("../../../scenarios/flows/health.toml"),
    },
];

/// The shipped flow named `name`.
pub fn find(name: &str) -> Option<BuiltIn> {
    ALL.into_iter().find(|b| b.name == name)
}

/// The names of the shipped flows, for fixes.
pub fn names() -> String {
    slo::schema::choices(&ALL.map(|b| b.name))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn every_shipped_flow_checks_and_names_itself() {
        for b in ALL {
            let p = crate::flow_file::check_text(Path::new(b.path), b.text)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, b.name);
        }
        let onboarding = crate::flow_file::check_text(Path::new("o"), ALL[0].text).unwrap();
        assert_eq!(
            onboarding.requests,
            [
                "auth_token",
                "purpose_selection",
                "proficiency",
                "equipment",
                "availability",
                "complete"
            ]
        );
        let plans = crate::flow_file::check_text(Path::new("p"), ALL[1].text).unwrap();
        assert_eq!(
            plans.requests,
            ["plan_auth_token", "plan_generate", "plan_status"]
        );
    }
}
