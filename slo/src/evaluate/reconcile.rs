//! Two sources on one SLO: Prometheus and the services' own metrics, or the
//! server and the client. A verdict is only as good as the sources that can see
//! it agree:
//! - when both decided and their statuses differ, the worse one stands (a FAIL
//!   seen by either source is a FAIL), and the verdict says so;
//! - when the verdict's own source could not decide and the other proves a FAIL,
//!   the FAIL stands: missing data on one side does not hide a breach seen on the
//!   other;
//! - when the other source saw more bad events than the verdict's own, further
//!   apart than the set's tolerance (a share of the allowed bad share, so the
//!   margin scales with the objective), the verdict cannot pass: the sources do
//!   not count the same events, and the one that saw more trouble may be right
//!   (the client sees refused and timed-out requests the server never counted);
//! - values apart the other way are noted.

use crate::definition::Slo;
use crate::format::percent;
use crate::verdict::{Status, Verdict};

/// The other source's view of the SLO.
pub struct Other<'a> {
    /// Who it is ("the client", "the services' metrics").
    pub name: &'a str,
    /// What it proves.
    pub status: Status,
    /// Its value, when it has one.
    pub value: Option<f64>,
    /// Its value as people read it.
    pub display: &'a str,
}

/// Settles `v` with another source's view; returns the disagreement, if any, as
/// noted in the verdict.
pub fn settle(v: &mut Verdict, other: &Other, slo: &Slo, tolerance: f64) -> Option<String> {
    let decided = |s: Status| s != Status::Inconclusive;
    let message = if decided(v.status) && decided(other.status) && v.status != other.status {
        let m = format!(
            "{} says {} ({}) where the {} says {} ({}): the worse verdict stands",
            other.name, other.status, other.display, v.source, v.status, v.display
        );
        v.status = v.status.max(other.status);
        Some(m)
    } else if !decided(v.status) && other.status == Status::Fail {
        v.status = Status::Fail;
        Some(format!(
            "the {} could not decide, and {} proves a breach ({})",
            v.source, other.name, other.display
        ))
    } else if let Some(m) = worse_unseen(v, other, slo, tolerance) {
        v.status = Status::Inconclusive;
        Some(m)
    } else {
        apart(v, other, slo, tolerance)
    };
    if let Some(m) = &message {
        super::add_note(v, m);
    }
    message
}

/// When `v` would pass but the other source saw a bad share further above
/// `v`'s than the tolerance: why it cannot pass.
fn worse_unseen(v: &Verdict, other: &Other, slo: &Slo, tolerance: f64) -> Option<String> {
    if v.status != Status::Pass {
        return None;
    }
    let (mine, theirs) = (slo.bad_share(v.value?)?, slo.bad_share(other.value?)?);
    let margin = tolerance * slo.allowed_bad_share()?;
    (theirs - mine > margin).then(|| {
        format!(
            "{} saw a bad share of {} ({}) where the {} counted {} ({}): more than the tolerance of {:.2} points apart, so the {} cannot pass on what it counted (they do not count the same events)",
            other.name,
            percent(theirs),
            other.display,
            v.source,
            percent(mine),
            v.display,
            margin * 100.0,
            v.source
        )
    })
}

/// A note when the values lie further apart than the tolerance.
fn apart(v: &Verdict, other: &Other, slo: &Slo, tolerance: f64) -> Option<String> {
    let (a, b, allowed) = (v.value?, other.value?, slo.allowed_bad_share()?);
    let margin = tolerance * allowed;
    ((a - b).abs() > margin).then(|| {
        format!(
            "{} {} vs {} {}: {:.2} points apart, more than the tolerance of {:.2} points ({}% of the allowed bad share)",
            other.name,
            percent(b),
            v.source,
            percent(a),
            (a - b).abs() * 100.0,
            margin * 100.0,
            crate::format::trim_float(tolerance * 100.0)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::parse;
    use crate::verdict::Source;

    fn slo() -> Slo {
        let set = parse(
            std::path::Path::new("s.toml"),
            r#"name = "t"
[[slo]]
name = "e"
kind = "ratio"
bad = ["errors_total"]
total = ["requests_total"]
objective = "< 0.01"
"#,
        )
        .unwrap();
        set.slos[0].clone()
    }

    fn verdict(status: Status, value: f64) -> Verdict {
        let mut v = crate::evaluate::inconclusive(
            &slo(),
            crate::verdict::WindowKind::Whole,
            Source::Prometheus,
            String::new(),
        );
        v.status = status;
        v.value = Some(value);
        v
    }

    fn other(status: Status, value: f64) -> Other<'static> {
        Other {
            name: "the client",
            status,
            value: Some(value),
            display: "x",
        }
    }

    #[test]
    fn the_worse_of_two_decided_sources_stands() {
        let mut v = verdict(Status::Pass, 0.0);
        let m = settle(&mut v, &other(Status::Fail, 0.2), &slo(), 0.5);
        assert_eq!(v.status, Status::Fail);
        assert!(m.unwrap().contains("worse"));
    }

    #[test]
    fn a_breach_seen_by_one_source_is_not_hidden_by_missing_data_on_the_other() {
        let mut v = verdict(Status::Inconclusive, 0.0);
        v.value = None;
        settle(&mut v, &other(Status::Fail, 0.2), &slo(), 0.5);
        assert_eq!(v.status, Status::Fail);
        // An undecided source does not override a decided one.
        let mut v = verdict(Status::Pass, 0.001);
        settle(&mut v, &other(Status::Inconclusive, 0.002), &slo(), 0.5);
        assert_eq!(v.status, Status::Pass);
    }

    #[test]
    fn a_pass_cannot_stand_on_fewer_bad_events_than_the_other_source_saw() {
        // The server counted 0.1% bad, the client 0.8%: 0.7 points apart, more
        // than half of the 1% allowed. Neither proves a breach, yet the server's
        // PASS rests on events the client saw go wrong.
        let mut v = verdict(Status::Pass, 0.001);
        let m = settle(&mut v, &other(Status::Pass, 0.008), &slo(), 0.5);
        assert!(m.is_some_and(|m| m.contains("cannot pass")));
        assert_eq!(v.status, Status::Inconclusive);
        // Within the tolerance: it stands.
        let mut v = verdict(Status::Pass, 0.001);
        assert!(settle(&mut v, &other(Status::Pass, 0.003), &slo(), 0.5).is_none());
        assert_eq!(v.status, Status::Pass);
        // The other way (the other source saw fewer bad events): noted only.
        let mut v = verdict(Status::Pass, 0.008);
        let m = settle(&mut v, &other(Status::Pass, 0.001), &slo(), 0.5);
        assert!(m.is_some_and(|m| m.contains("apart")));
        assert_eq!(v.status, Status::Pass);
    }
}
