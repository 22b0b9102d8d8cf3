//! The load command (`make load`, not in CI): N flows, each driven through its EMR lifecycle
//! (half succeed, half fail a step), with 30 % of the events sent twice, all shuffled, handled
//! 50 at a time by the operations against moto behind the serializing fault proxy (so moto
//! stands for DynamoDB's atomic conditional writes). Then the reconcile sweep runs until nothing
//! is due. Prints lost and duplicated callbacks, outcomes, and the handling time per event.
//!
//! Usage: `cargo run -p integration-tests --bin load -- [FLOWS] [CONCURRENCY] [DUPLICATES_PERCENT]`
//! (defaults 1000, 50, 30).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emr_flows::model::FlowId;
use emr_flows::ops::{self, Services};
use integration_tests::world::world_behind_proxy;
use integration_tests::{Receiver, TEST_SECRET, event};
use serde_json::{Value, json};

const SUCCESS: [&str; 5] = [
    "lifecycle-success/01-cluster-STARTING.json",
    "lifecycle-success/02-cluster-RUNNING.json",
    "lifecycle-success/03-step-RUNNING.json",
    "lifecycle-success/04-step-COMPLETED.json",
    "lifecycle-success/05-cluster-TERMINATED.json",
];
const FAILURE: [&str; 5] = [
    "lifecycle-failure/01-cluster-STARTING.json",
    "lifecycle-failure/02-cluster-RUNNING.json",
    "lifecycle-failure/03-step-RUNNING.json",
    "lifecycle-failure/04-step-FAILED.json",
    "lifecycle-failure/05-cluster-TERMINATED_WITH_ERRORS.json",
];

/// A small deterministic generator (xorshift64*), so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let flows = args.first().copied().unwrap_or(1000);
    let concurrency = args.get(1).copied().unwrap_or(50);
    let duplicates = args.get(2).copied().unwrap_or(30);

    let world = world_behind_proxy().await;
    let receiver = Receiver::start(TEST_SECRET);
    let callbacks = json!([{"http": {"url": receiver.url}}]);
    println!("submitting {flows} flows…");
    let started = Instant::now();
    let mut expected = HashMap::new();
    let mut events: Vec<(FlowId, usize, Value)> = Vec::new();
    for i in 0..flows {
        let lifecycle = if i % 2 == 0 { SUCCESS } else { FAILURE };
        let flow = if i % 2 == 0 {
            json!({"flow": "spark-pi", "callbacks": callbacks})
        } else {
            json!({"flow": "pages-es-index-updater", "params": {"domain_id": i}, "callbacks": callbacks})
        };
        let submitted = world.submit(flow).await.expect("submit");
        let record = world.record(submitted.flow_id).await;
        let (step_id, _) = record.ordered_steps()[0];
        let cluster_id = submitted.cluster_id.clone().expect("launched");
        expected.insert(submitted.flow_id, if i % 2 == 0 { "SUCCEEDED" } else { "FAILED" });
        for (order, path) in lifecycle.iter().enumerate() {
            events.push((
                submitted.flow_id,
                order,
                event(path, cluster_id.as_str(), step_id.as_str()),
            ));
        }
    }
    println!("submitted in {:.1} s", started.elapsed().as_secs_f64());

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let originals = events.len();
    for i in 0..originals {
        if rng.below(100) < duplicates {
            events.push(events[i].clone());
        }
    }
    for i in (1..events.len()).rev() {
        events.swap(i, rng.below(i + 1));
    }
    // moto's ListSteps never moves a step on, so a success flow's cluster end is handled only
    // after its step's completion was applied (as EMR's own ListSteps would then report it);
    // everything else is handled in any order, each failure flow's whole lifecycle included.
    let total = events.len();
    println!(
        "handling {total} events ({originals} + {} duplicates), {concurrency} at a time…",
        total - originals
    );

    let queue = Arc::new(Mutex::new(events.into_iter().rev().collect::<Vec<_>>()));
    let completed = Arc::new(Mutex::new(HashSet::new()));
    let success: Arc<HashSet<FlowId>> = Arc::new(
        (expected.iter())
            .filter(|(_, want)| **want == "SUCCEEDED")
            .map(|(id, _)| *id)
            .collect(),
    );
    let timings = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let svc: Services = world.svc().clone();
            let (queue, timings, errors) = (queue.clone(), timings.clone(), errors.clone());
            let (completed, success) = (completed.clone(), success.clone());
            tokio::spawn(async move {
                loop {
                    let Some((flow_id, order, event)) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let waits = order == 4 && success.contains(&flow_id);
                    if waits && !completed.lock().unwrap().contains(&flow_id) {
                        // Not yet: back to the end of the line.
                        queue.lock().unwrap().insert(0, (flow_id, order, event));
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    let at = Instant::now();
                    let result = ops::on_state_change(&svc, event, Duration::from_secs(60)).await;
                    timings.lock().unwrap().push(at.elapsed());
                    match result {
                        Ok(_) if order == 3 => {
                            completed.lock().unwrap().insert(flow_id);
                        }
                        Ok(_) => {}
                        Err(e) => errors.lock().unwrap().push(e.to_string()),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let wall = started.elapsed();
    let sweeps = ops::sweep(world.svc(), Duration::from_secs(600))
        .await
        .expect("sweep");

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong = 0;
    for (flow_id, want) in &expected {
        let status = world.record(*flow_id).await.status.as_str().to_owned();
        wrong += usize::from(status != *want);
        *outcomes.entry(status).or_default() += 1;
    }
    let mut per_flow: HashMap<String, usize> = HashMap::new();
    for callback in receiver.received() {
        *per_flow
            .entry(callback["body"]["flow_id"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let lost = expected
        .keys()
        .filter(|id| !per_flow.contains_key(&id.to_string()))
        .count();
    let duplicated: usize = per_flow.values().map(|n| n.saturating_sub(1)).sum();
    let mut timings = timings.lock().unwrap().clone();
    timings.sort();
    let counts = world.proxy.as_ref().unwrap().counts().await;
    let requests: u64 = counts.values().sum();

    println!("\n== load: {flows} flows, {total} events, {concurrency}-way");
    println!("callbacks lost        {lost}");
    println!("callbacks duplicated  {duplicated}");
    println!("wrong outcomes        {wrong}   {outcomes:?}");
    println!("event errors          {}", errors.lock().unwrap().len());
    println!(
        "sweep afterwards      {} due, {} changed",
        sweeps.due, sweeps.changed
    );
    println!(
        "handling per event    p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        percentile(&timings, 0.5).as_secs_f64() * 1e3,
        percentile(&timings, 0.99).as_secs_f64() * 1e3,
        timings.last().unwrap().as_secs_f64() * 1e3,
    );
    println!("events per second     {:.0}", total as f64 / wall.as_secs_f64());
    println!("AWS requests          {requests} in all (submits included): {counts:?}");
    if let Some(first) = errors.lock().unwrap().first() {
        println!("first error: {first}");
    }
    if lost + duplicated + wrong > 0 {
        std::process::exit(1);
    }
}
