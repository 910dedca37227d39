//! The plan job queue between the gateway and the planning engine.
//!
//! Two implementations with the same delivery semantics, so a run without NATS
//! behaves like one with it:
//! - **JetStream** (`NATS_URL` set): stream `PLANS` (subject `plans.generate`,
//!   work-queue retention), durable pull consumer `planning-engine` with explicit
//!   acks; dead letters go to stream `PLANS_DLQ` (subject `plans.dlq`). The W3C trace
//!   context travels in the message headers.
//! - **In-process**: a channel inside the planning engine, fed by `POST /jobs`.
//!
//! A [`Delivery`] is acked on success, nacked with a delay on a transient failure
//! (and delivered again with its attempt number raised), or dead-lettered once the
//! last allowed delivery has failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::metrics::QueueMetrics;

/// Subject plan jobs are published on.
pub const PLAN_SUBJECT: &str = "plans.generate";
/// Subject dead-lettered jobs are published on.
pub const DLQ_SUBJECT: &str = "plans.dlq";
/// Stream of plan jobs.
pub const PLAN_STREAM: &str = "PLANS";
/// Stream of dead letters.
pub const DLQ_STREAM: &str = "PLANS_DLQ";
/// Durable consumer of the planning engine.
pub const CONSUMER: &str = "planning-engine";
/// How long JetStream waits for an ack before delivering again; the engine sends
/// "in progress" every third of it while a job runs.
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// Header carrying the reason a job was dead-lettered.
pub const DLQ_REASON_HEADER: &str = "Athlete-Ally-Dead-Letter-Reason";

/// Accepted plan complexities.
pub const COMPLEXITIES: [&str; 3] = ["basic", "standard", "advanced"];
/// Training days a week a plan may have.
pub const AVAILABILITY_DAYS: std::ops::RangeInclusive<u32> = 1..=7;
/// The most equipment items a plan may use.
pub const MAX_EQUIPMENT: u32 = 50;
/// The longest job id.
pub const MAX_JOB_ID_LEN: usize = 128;

/// A plan generation job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanJob {
    /// The job's id (HMAC-signed, bound to its athlete).
    pub job_id: String,
    /// The athlete.
    pub athlete_id: String,
    /// `basic`, `standard` or `advanced`.
    pub complexity: String,
    /// Equipment items.
    pub equipment_count: u32,
    /// Days per week.
    pub availability_days: u32,
    /// When the gateway accepted the request (unix ms); plan duration counts from here.
    pub submitted_at_ms: u64,
    /// Trace context for the in-process queue (NATS carries it in headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl PlanJob {
    /// What is wrong with the job, if anything: the bounds the gateway answers 422
    /// on, held again by the engine for every producer (`POST /jobs`, any NATS
    /// publisher), since a job's size decides how much work and memory it takes.
    pub fn invalid(&self) -> Option<String> {
        if self.job_id.is_empty() || self.job_id.len() > MAX_JOB_ID_LEN {
            return Some(format!("jobId must be 1-{MAX_JOB_ID_LEN} characters"));
        }
        if !crate::auth::valid_athlete_id(&self.athlete_id) {
            return Some("athleteId must be 1-64 letters, digits, - _ .".to_string());
        }
        if !COMPLEXITIES.contains(&self.complexity.as_str()) {
            return Some(format!(
                "complexity {:?} is not one of {}",
                self.complexity,
                COMPLEXITIES.join(", ")
            ));
        }
        if !AVAILABILITY_DAYS.contains(&self.availability_days) {
            return Some(format!(
                "availabilityDays = {} must be between {} and {}",
                self.availability_days,
                AVAILABILITY_DAYS.start(),
                AVAILABILITY_DAYS.end()
            ));
        }
        if self.equipment_count > MAX_EQUIPMENT {
            return Some(format!(
                "equipmentCount = {} must be at most {MAX_EQUIPMENT}",
                self.equipment_count
            ));
        }
        None
    }
}

#[derive(Debug, thiserror::Error)]
/// A queue operation that failed.
pub enum QueueError {
    #[error(
        "NATS unreachable at NATS_URL={url}: {reason} (start nats-server with -js, or unset NATS_URL)"
    )]
    /// NATS cannot be reached.
    Connect {
        /// The server's URL.
        url: String,
        /// Why.
        reason: String,
    },
    #[error("JetStream {what} failed: {reason}")]
    /// A JetStream call failed.
    JetStream {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    #[error("the in-process queue is closed")]
    /// The queue is closed (shutting down).
    Closed,
    #[error("the in-process queue is full ({capacity} jobs waiting; PLAN_QUEUE_CAPACITY)")]
    /// The queue holds its capacity of waiting jobs.
    Full {
        /// Its capacity.
        capacity: usize,
    },
}

fn js_error(what: &'static str) -> impl FnOnce(String) -> QueueError {
    move |reason| QueueError::JetStream { what, reason }
}

/// Connects to NATS and makes sure both streams exist.
pub async fn connect_jetstream(url: &str) -> Result<jetstream::Context, QueueError> {
    let client = async_nats::ConnectOptions::new()
        .name("athlete-ally")
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| QueueError::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    let js = jetstream::new(client);
    js.get_or_create_stream(stream::Config {
        name: PLAN_STREAM.to_string(),
        subjects: vec![PLAN_SUBJECT.to_string()],
        retention: stream::RetentionPolicy::WorkQueue,
        max_age: Duration::from_secs(24 * 3600),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| js_error("creating stream PLANS")(e.to_string()))?;
    js.get_or_create_stream(stream::Config {
        name: DLQ_STREAM.to_string(),
        subjects: vec![DLQ_SUBJECT.to_string()],
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(7 * 24 * 3600),
        ..Default::default()
    })
    .await
    .map_err(|e| js_error("creating stream PLANS_DLQ")(e.to_string()))?;
    Ok(js)
}

/// Publishes a job, waiting for JetStream to store it. The job id is the message id,
/// so a retried publish is not queued twice.
pub async fn publish_job(js: &jetstream::Context, job: &PlanJob) -> Result<(), QueueError> {
    let mut headers = async_nats::HeaderMap::new();
    crate::telemetry::inject_nats(&mut headers);
    headers.insert("Nats-Msg-Id", job.job_id.as_str());
    let payload = serde_json::to_vec(job).expect("a job serialises");
    js.publish_with_headers(PLAN_SUBJECT, headers, payload.into())
        .await
        .map_err(|e| js_error("publish")(e.to_string()))?
        .await
        .map_err(|e| js_error("publish acknowledgement")(e.to_string()))?;
    Ok(())
}

/// One delivery of a job.
pub struct Delivery {
    /// The job.
    pub job: PlanJob,
    /// 1 for the first delivery.
    pub attempt: u32,
    /// Trace context headers (NATS), if any.
    pub nats_headers: Option<async_nats::HeaderMap>,
    acker: Acker,
}

enum Acker {
    InProcess(InProcessQueue),
    Nats {
        message: Box<jetstream::Message>,
        js: Box<jetstream::Context>,
    },
}

impl Delivery {
    /// The job succeeded: it will not be delivered again.
    pub async fn ack(&self, metrics: &QueueMetrics) -> Result<(), QueueError> {
        if let Acker::Nats { message, .. } = &self.acker {
            message
                .double_ack()
                .await
                .map_err(|e| js_error("ack")(e.to_string()))?;
        }
        metrics.acks.inc();
        Ok(())
    }

    /// A transient failure: deliver again after `delay`.
    pub async fn nak(self, delay: Duration, metrics: &QueueMetrics) -> Result<(), QueueError> {
        metrics.naks.inc();
        match self.acker {
            Acker::InProcess(queue) => {
                queue.redeliver(self.job, self.attempt + 1, delay);
                Ok(())
            }
            Acker::Nats { message, .. } => message
                .ack_with(jetstream::AckKind::Nak(Some(delay)))
                .await
                .map_err(|e| js_error("nak")(e.to_string())),
        }
    }

    /// Tells JetStream the job is still being worked on (resets its ack timer).
    pub async fn in_progress(&self) {
        if let Acker::Nats { message, .. } = &self.acker {
            let _ = message.ack_with(jetstream::AckKind::Progress).await;
        }
    }

    /// The last delivery failed: move the job to the dead-letter queue.
    pub async fn dead_letter(self, reason: &str, metrics: &QueueMetrics) -> Result<(), QueueError> {
        metrics.dead_letters.inc();
        match self.acker {
            Acker::InProcess(queue) => {
                queue.dead_letters.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Acker::Nats { message, js } => {
                let mut headers = message.headers.clone().unwrap_or_default();
                headers.insert(DLQ_REASON_HEADER, reason);
                js.publish_with_headers(DLQ_SUBJECT, headers, message.payload.clone())
                    .await
                    .map_err(|e| js_error("dead-letter publish")(e.to_string()))?
                    .await
                    .map_err(|e| js_error("dead-letter acknowledgement")(e.to_string()))?;
                message
                    .ack_with(jetstream::AckKind::Term)
                    .await
                    .map_err(|e| js_error("term")(e.to_string()))
            }
        }
    }
}

/// The in-process queue: a channel plus delayed redeliveries.
#[derive(Clone)]
pub struct InProcessQueue {
    tx: mpsc::UnboundedSender<Delivery>,
    pending: Arc<AtomicI64>,
    dead_letters: Arc<AtomicI64>,
    /// New jobs are refused while this many wait; redeliveries of admitted jobs
    /// are not, so memory stays bounded by it plus the jobs in flight.
    capacity: usize,
}

impl InProcessQueue {
    /// A queue holding up to `capacity` waiting jobs, and the receiver of its deliveries.
    pub fn new(capacity: usize) -> (InProcessQueue, mpsc::UnboundedReceiver<Delivery>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            InProcessQueue {
                tx,
                pending: Arc::new(AtomicI64::new(0)),
                dead_letters: Arc::new(AtomicI64::new(0)),
                capacity: capacity.max(1),
            },
            rx,
        )
    }

    /// How many waiting jobs it holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether a new job would be refused now.
    pub fn is_full(&self) -> bool {
        self.pending() >= self.capacity as i64
    }

    /// Queues a new job, unless the queue is full.
    pub fn enqueue(&self, job: PlanJob) -> Result<(), QueueError> {
        if self.is_full() {
            return Err(QueueError::Full {
                capacity: self.capacity,
            });
        }
        self.send(job, 1)
    }

    /// Queues again a job accepted before a restart, as delivery `attempt`,
    /// whatever the capacity: it was already answered 202.
    pub fn requeue(&self, job: PlanJob, attempt: u32) -> Result<(), QueueError> {
        self.send(job, attempt)
    }

    fn send(&self, job: PlanJob, attempt: u32) -> Result<(), QueueError> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(Delivery {
                job,
                attempt,
                nats_headers: None,
                acker: Acker::InProcess(self.clone()),
            })
            .map_err(|_| {
                self.pending.fetch_sub(1, Ordering::Relaxed);
                QueueError::Closed
            })
    }

    fn redeliver(&self, job: PlanJob, attempt: u32, delay: Duration) {
        let queue = self.clone();
        // Counted as pending while it waits, as JetStream does.
        queue.pending.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.pending.fetch_sub(1, Ordering::Relaxed);
            let _ = queue.send(job, attempt);
        });
    }

    /// Jobs waiting (queued or waiting for a redelivery).
    pub fn pending(&self) -> i64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Jobs dead-lettered so far.
    pub fn dead_letters(&self) -> i64 {
        self.dead_letters.load(Ordering::Relaxed)
    }
}

/// Where the planning engine takes its deliveries from.
pub enum Source {
    /// The in-process queue.
    InProcess {
        /// The queue (for redeliveries).
        queue: InProcessQueue,
        /// Its deliveries.
        rx: mpsc::UnboundedReceiver<Delivery>,
    },
    /// JetStream.
    Nats {
        /// The context (for acks, naks, dead letters).
        js: Box<jetstream::Context>,
        /// The pull consumer's messages.
        messages: Box<pull::Stream>,
        /// Messages pulled at once (to open the stream again).
        concurrency: usize,
    },
}

impl Source {
    /// The durable consumer's message stream, created if needed.
    pub async fn nats(js: jetstream::Context, concurrency: usize) -> Result<Source, QueueError> {
        let consumer = nats_consumer(&js, concurrency).await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(concurrency.max(1))
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(10))
            .messages()
            .await
            .map_err(|e| js_error("consumer stream")(e.to_string()))?;
        Ok(Source::Nats {
            js: Box::new(js),
            messages: Box::new(messages),
            concurrency,
        })
    }

    /// Whether it can be opened again after it ends ([`Source::reopen`]).
    pub fn reopens(&self) -> bool {
        matches!(self, Source::Nats { .. })
    }

    /// Opens a JetStream source again: the pull stream ends when its consumer is
    /// deleted or the server goes away, and the consumer is created anew if needed.
    pub async fn reopen(&mut self) -> Result<(), QueueError> {
        if let Source::Nats {
            js, concurrency, ..
        } = self
        {
            *self = Source::nats((**js).clone(), *concurrency).await?;
        }
        Ok(())
    }

    /// The next delivery, or `None` when the source is closed.
    pub async fn next(&mut self) -> Option<Result<Delivery, QueueError>> {
        match self {
            Source::InProcess { queue, rx } => {
                let delivery = rx.recv().await?;
                queue.pending.fetch_sub(1, Ordering::Relaxed);
                Some(Ok(delivery))
            }
            Source::Nats { js, messages, .. } => {
                let message = match messages.next().await? {
                    Ok(m) => m,
                    Err(e) => return Some(Err(js_error("receive")(e.to_string()))),
                };
                let attempt = message
                    .info()
                    .map(|i| i.delivered.max(1) as u32)
                    .unwrap_or(1);
                let nats_headers = message.headers.clone();
                let job = match serde_json::from_slice::<PlanJob>(&message.payload) {
                    Ok(job) => job,
                    Err(e) => {
                        tracing::warn!("unreadable plan job on {PLAN_SUBJECT}: {e}");
                        let delivery = Delivery {
                            job: PlanJob {
                                job_id: String::new(),
                                athlete_id: String::new(),
                                complexity: String::new(),
                                equipment_count: 0,
                                availability_days: 0,
                                submitted_at_ms: 0,
                                traceparent: None,
                            },
                            attempt,
                            nats_headers,
                            acker: Acker::Nats {
                                message: Box::new(message),
                                js: js.clone(),
                            },
                        };
                        let _ = delivery
                            .dead_letter(&format!("unreadable job: {e}"), &QueueMetrics::default())
                            .await;
                        return Some(Err(QueueError::JetStream {
                            what: "decode",
                            reason: e.to_string(),
                        }));
                    }
                };
                Some(Ok(Delivery {
                    job,
                    attempt,
                    nats_headers,
                    acker: Acker::Nats {
                        message: Box::new(message),
                        js: js.clone(),
                    },
                }))
            }
        }
    }
}

async fn nats_consumer(
    js: &jetstream::Context,
    concurrency: usize,
) -> Result<jetstream::consumer::Consumer<pull::Config>, QueueError> {
    let stream = js
        .get_stream(PLAN_STREAM)
        .await
        .map_err(|e| js_error("opening stream PLANS")(e.to_string()))?;
    stream
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.to_string()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                // The engine dead-letters after its own delivery limit; the server never drops.
                max_deliver: -1,
                max_ack_pending: (concurrency * 4).max(16) as i64,
                filter_subject: PLAN_SUBJECT.to_string(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| js_error("creating consumer planning-engine")(e.to_string()))
}

/// Backlog as JetStream sees it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NatsBacklog {
    /// Not yet delivered.
    pub num_pending: u64,
    /// Delivered, not yet acked (running or waiting for a redelivery).
    pub num_ack_pending: u64,
    /// Deliveries after the first.
    pub num_redelivered: u64,
    /// Messages in the dead-letter stream.
    pub dead_letter_messages: u64,
}

/// Reads the consumer's and the dead-letter stream's state.
pub async fn nats_backlog(js: &jetstream::Context) -> Result<NatsBacklog, QueueError> {
    let mut consumer: jetstream::consumer::PullConsumer = js
        .get_consumer_from_stream(CONSUMER, PLAN_STREAM)
        .await
        .map_err(|e| js_error("consumer info")(e.to_string()))?;
    let info = consumer
        .info()
        .await
        .map_err(|e| js_error("consumer info")(e.to_string()))?;
    let mut backlog = NatsBacklog {
        num_pending: info.num_pending,
        num_ack_pending: info.num_ack_pending as u64,
        num_redelivered: info.num_redelivered as u64,
        dead_letter_messages: 0,
    };
    if let Ok(mut dlq) = js.get_stream(DLQ_STREAM).await
        && let Ok(info) = dlq.info().await
    {
        backlog.dead_letter_messages = info.state.messages;
    }
    Ok(backlog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> PlanJob {
        PlanJob {
            job_id: id.to_string(),
            athlete_id: "a".into(),
            complexity: "standard".into(),
            equipment_count: 5,
            availability_days: 3,
            submitted_at_ms: 0,
            traceparent: None,
        }
    }

    #[tokio::test]
    async fn in_process_nak_redelivers_with_the_next_attempt() {
        let (queue, rx) = InProcessQueue::new(100);
        let mut source = Source::InProcess {
            queue: queue.clone(),
            rx,
        };
        let metrics = QueueMetrics::default();
        queue.enqueue(job("j1")).unwrap();
        assert_eq!(queue.pending(), 1);
        let d = source.next().await.unwrap().unwrap();
        assert_eq!((d.attempt, queue.pending()), (1, 0));
        d.nak(Duration::from_millis(10), &metrics).await.unwrap();
        assert_eq!(queue.pending(), 1, "a delayed redelivery counts as pending");
        let d = source.next().await.unwrap().unwrap();
        assert_eq!(d.attempt, 2);
        assert_eq!(d.job.job_id, "j1");
        d.dead_letter("gave up", &metrics).await.unwrap();
        assert_eq!(queue.dead_letters(), 1);
        assert_eq!(metrics.naks.get(), 1);
        assert_eq!(metrics.dead_letters.get(), 1);
    }
}
