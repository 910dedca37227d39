//! Spans over OTLP: an OTLP gRPC receiver in the test process (opentelemetry-proto)
//! receives the three services' spans; one onboarding step and one plan request are
//! each one trace, across HTTP and across NATS, joined to the caller's traceparent.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use parking_lot::Mutex;
use serde_json::json;

/// Every span received, with the `service.name` of its resource.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(AnyValue::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| match &v.value {
            Some(AnyValue::StringValue(s)) => Some(s.clone()),
            Some(AnyValue::IntValue(i)) => Some(i.to_string()),
            Some(AnyValue::BoolValue(b)) => Some(b.to_string()),
            Some(AnyValue::DoubleValue(d)) => Some(d.to_string()),
            _ => None,
        })
}

fn find<'a>(spans: &'a [(String, Span)], service: &str, name: &str, trace: &[u8]) -> &'a Span {
    spans
        .iter()
        .find(|(s, span)| s == service && span.name == name && span.trace_id == trace)
        .map(|(_, span)| span)
        .unwrap_or_else(|| {
            let names: Vec<String> = spans
                .iter()
                .map(|(s, sp)| format!("{s}: {} {}", sp.name, hex::encode(&sp.trace_id)))
                .collect();
            panic!(
                "no span {name:?} of {service} in trace {}; received:\n{}",
                hex::encode(trace),
                names.join("\n")
            )
        })
}

fn child_of<'a>(spans: &'a [(String, Span)], parent: &Span, name: &str) -> &'a Span {
    spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| {
            s.name == name && s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id
        })
        .unwrap_or_else(|| panic!("no child {name:?} of {:?}", parent.name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_across_http_and_nats() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = receiver.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(tokio_stream_listener(listener))
            .await
            .unwrap();
    });
    let tracing = services::otlp::init_embedded(
        tracing_subscriber::EnvFilter::new("warn"),
        Some(&format!("http://127.0.0.1:{port}")),
        1.0,
    );
    assert!(tracing.exporting());

    let nats = Nats::start();
    let s = services::start_all(
        fast_config().with_nats(Some(nats.url.clone())),
        services::RuntimeMode::Isolated { workers: 1 },
    )
    .await
    .unwrap();
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-traced").await;

    // An onboarding step, joined to the caller's trace.
    let onboarding_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let r = c
        .post(format!("{g}/api/v1/onboarding"))
        .bearer_auth(&t)
        .header(
            "traceparent",
            format!("00-{onboarding_trace}-{caller_span}-01"),
        )
        .json(&json!({"step": "purpose_selection", "data": {"purpose": "sport_performance"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A plan request: gateway -> NATS -> planning engine, one trace; the first
    // delivery fails on purpose (an error span), the second succeeds.
    c.put(s.planning.admin_url())
        .bearer_auth(services::config::DEV_ADMIN_TOKEN)
        .json(&json!({"fail_attempts": 1}))
        .send()
        .await
        .unwrap();
    let plan_trace = "0af7651916cd43dd8448eb211c80319c";
    let r = c
        .post(format!("{g}/api/v1/plans/generate"))
        .bearer_auth(&t)
        .header(
            "traceparent",
            format!("00-{plan_trace}-b7ad6b7169203331-01"),
        )
        .json(&json!({"complexity": "standard", "equipmentCount": 5, "availabilityDays": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let job = r.json::<serde_json::Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let done = wait_for_plan(&c, &g, &t, &job, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "completed");

    // Latency histograms carry the sampled trace as an exemplar.
    let metrics = c
        .get(s.planning.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("plan_generation_duration_seconds_bucket")
                && l.contains(&format!("# {{trace_id=\"{plan_trace}\"}}"))),
        "no exemplar with the plan's trace id"
    );

    s.shutdown().await.unwrap();
    tracing.flush().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spans = receiver.spans.lock().clone();

    // Onboarding: gateway server span (child of the caller) -> profile-onboarding.
    let onboarding = hex::decode(onboarding_trace).unwrap();
    let gateway = find(
        &spans,
        "gateway-bff",
        "POST /api/v1/onboarding",
        &onboarding,
    );
    assert_eq!(
        gateway.parent_span_id,
        hex::decode(caller_span).unwrap(),
        "joined to the caller's span"
    );
    assert_eq!(
        attr(gateway, "http.route").as_deref(),
        Some("/api/v1/onboarding")
    );
    let profile_server = find(
        &spans,
        "profile-onboarding",
        "POST /onboarding/{step}",
        &onboarding,
    );
    assert_eq!(
        profile_server.parent_span_id, gateway.span_id,
        "gateway -> profile-onboarding over HTTP"
    );
    let step = child_of(&spans, profile_server, "onboarding purpose_selection");
    assert_eq!(
        attr(step, "onboarding.step").as_deref(),
        Some("purpose_selection")
    );
    assert_eq!(
        attr(step, "onboarding.purpose").as_deref(),
        Some("sport_performance")
    );
    assert_eq!(attr(step, "user.id").as_deref(), Some("athlete-traced"));
    let db = child_of(&spans, step, "db create profiles");
    assert_eq!(attr(db, "db.operation").as_deref(), Some("create"));
    assert_eq!(attr(db, "db.sql.table").as_deref(), Some("profiles"));
    assert_eq!(attr(db, "user.id").as_deref(), Some("athlete-traced"));

    // Plan: the gateway's publish span is the parent of the engine's work, across NATS.
    let plan = hex::decode(plan_trace).unwrap();
    let publish = find(&spans, "gateway-bff", "plans.generate publish", &plan);
    let generations: Vec<&Span> = spans
        .iter()
        .filter(|(s, sp)| {
            s == "planning-engine" && sp.name == "plan generation" && sp.trace_id == plan
        })
        .map(|(_, sp)| sp)
        .collect();
    assert_eq!(
        generations.len(),
        2,
        "two deliveries, both in the request's trace"
    );
    for g in &generations {
        assert_eq!(
            g.parent_span_id, publish.span_id,
            "gateway -> NATS -> planning engine"
        );
        assert_eq!(attr(g, "plan.complexity").as_deref(), Some("standard"));
        assert_eq!(attr(g, "plan.equipment_count").as_deref(), Some("5"));
        assert_eq!(attr(g, "plan.availability_days").as_deref(), Some("3"));
        assert_eq!(attr(g, "user.id").as_deref(), Some("athlete-traced"));
    }
    let failed = generations
        .iter()
        .find(|g| attr(g, "messaging.delivery_attempt").as_deref() == Some("1"))
        .unwrap();
    let status = failed.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(
        status.message.contains("injected transient failure"),
        "{}",
        status.message
    );
    let ok = generations
        .iter()
        .find(|g| attr(g, "messaging.delivery_attempt").as_deref() == Some("2"))
        .unwrap();
    assert_eq!(ok.status.as_ref().unwrap().code, StatusCode::Ok as i32);
    let llm = child_of(&spans, ok, "llm call");
    assert_eq!(attr(llm, "llm.model").as_deref(), Some("gpt-4"));
    assert!(
        attr(llm, "llm.prompt_length")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 20
    );
    assert!(
        attr(llm, "llm.tokens.completion")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(attr(llm, "user.id").as_deref(), Some("athlete-traced"));
    let write = child_of(&spans, ok, "db create plans");
    assert_eq!(attr(write, "db.sql.table").as_deref(), Some("plans"));
    let business = child_of(&spans, ok, "assemble plan");
    assert_eq!(
        attr(business, "operation.type").as_deref(),
        Some("plan.assemble")
    );
    assert!(attr(business, "data.size").unwrap().parse::<u64>().unwrap() > 100);
    assert_eq!(
        business.status.as_ref().unwrap().code,
        StatusCode::Ok as i32
    );
    tracing.shutdown().await;
}

/// A listener as the stream of connections tonic serves.
fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}
