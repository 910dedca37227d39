//! The monitoring stack's files, checked with the real tools: promtool (config,
//! rules, rule unit tests) and docker-compose (the compose file; no engine needed).

mod common;

use std::process::Command;

use common::*;

fn tool(name: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(name)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed ({e}); scripts/test.sh installs it"));
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn prometheus_configuration_and_rules_pass_promtool() {
    let (ok, out) = tool(
        "promtool",
        &["check", "config", "monitoring/prometheus.yml"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    let (ok, out) = tool(
        "promtool",
        &["check", "config", "monitoring/prometheus.compose.yml"],
    );
    assert!(ok, "{out}");
    let (ok, out) = tool(
        "promtool",
        &["check", "rules", "monitoring/rules/athlete-ally.rules.yml"],
    );
    assert!(ok, "{out}");
}

#[test]
fn every_alert_fires_on_breach_and_stays_silent_when_healthy() {
    let (ok, out) = tool(
        "promtool",
        &[
            "test",
            "rules",
            "monitoring/rules/athlete-ally.rules.test.yml",
            "monitoring/rules/athlete-ally.budget.test.yml",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("SUCCESS").count(), 2, "{out}");
    let tests = [
        "athlete-ally.rules.test.yml",
        "athlete-ally.budget.test.yml",
    ]
    .map(|f| std::fs::read_to_string(root().join("monitoring/rules").join(f)).unwrap())
    .join("\n");
    let rules =
        std::fs::read_to_string(root().join("monitoring/rules/athlete-ally.rules.yml")).unwrap();
    for line in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {line}")),
            "no unit test for {line}"
        );
    }
}

#[test]
fn the_compose_file_is_valid_and_needs_the_grafana_password() {
    let compose = if tool_exists("docker-compose") {
        "docker-compose"
    } else {
        "docker"
    };
    let base: Vec<&str> = if compose == "docker" {
        vec!["compose"]
    } else {
        vec![]
    };
    let mut args = base.clone();
    args.extend(["-f", "docker-compose/preview.yml", "config"]);
    let output = Command::new(compose)
        .args(&args)
        .env("GF_SECURITY_ADMIN_PASSWORD", "test-only")
        .env("AUTH_SECRET", "test-only-0123456789abcdef0123456789")
        .env("ADMIN_TOKEN", "test-only-0123456789")
        .current_dir(root())
        .output()
        .expect("docker-compose (apt-get install docker-compose)");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    for service in [
        "prometheus",
        "grafana",
        "jaeger",
        "nats",
        "gateway-bff",
        "profile-onboarding",
        "planning-engine",
    ] {
        assert!(
            text.contains(&format!("{service}:")),
            "{service} missing:\n{text}"
        );
    }
    // Each secret must be given: none is committed, and the services refuse
    // their development defaults off loopback.
    for missing in ["GF_SECURITY_ADMIN_PASSWORD", "AUTH_SECRET", "ADMIN_TOKEN"] {
        let mut command = Command::new(compose);
        command.args(&args).current_dir(root());
        for (name, value) in [
            ("GF_SECURITY_ADMIN_PASSWORD", "test-only"),
            ("AUTH_SECRET", "test-only-0123456789abcdef0123456789"),
            ("ADMIN_TOKEN", "test-only-0123456789"),
        ] {
            if name == missing {
                command.env_remove(name);
            } else {
                command.env(name, value);
            }
        }
        let output = command.output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{missing} must be required");
        assert!(err.contains(missing), "{missing}: {err}");
    }
    let compose_text = std::fs::read_to_string(root().join("docker-compose/preview.yml")).unwrap();
    assert!(
        !compose_text.contains("GF_SECURITY_ADMIN_PASSWORD=")
            || compose_text.contains("${GF_SECURITY_ADMIN_PASSWORD"),
        "no committed password"
    );
}

fn tool_exists(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn dashboards_are_valid_and_cover_the_runbook() {
    let dir = root().join("monitoring/grafana/dashboards");
    let mut titles = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            d["uid"].is_string() && d["title"].is_string(),
            "{}",
            path.display()
        );
        for p in d["panels"].as_array().unwrap() {
            assert!(p["title"].is_string(), "{}", path.display());
        }
        titles.push(d["title"].as_str().unwrap().to_lowercase());
    }
    for topic in ["api", "business", "llm", "queue", "resources"] {
        assert!(
            titles.iter().any(|t| t.contains(topic)),
            "no {topic} dashboard: {titles:?}"
        );
    }
}
