//! How fast the simulator runs natively: events per second, and the time to
//! run 1,000 polite clients × 100 messages under the async-tasks model.
//!
//! `cargo bench -p loopscope-sim`; docs/numbers.md lists the
//! numbers measured on the project's machine.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loopscope_sim::{ClientBehaviour, Scenario, ServerModel, Simulation};
use protocol::Micros;

fn polite_crowd(model: ServerModel, clients: usize, messages: u32) -> Scenario {
    let polite = ClientBehaviour::Polite {
        messages,
        size: 64,
        interval_ms: 10,
    };
    Scenario::new(model).clients(clients, polite, 0, 100)
}

/// Runs until every client is done; returns the number of events.
fn run_to_end(scenario: Scenario) -> u64 {
    let mut simulation = Simulation::new(scenario);
    let mut events = 0;
    let mut clients_left = simulation.echoed_by_client().len();
    let mut horizon: Micros = 0;
    while clients_left > 0 {
        horizon += 100_000;
        simulation.run_until(horizon);
        for event in simulation.drain_events() {
            events += 1;
            if matches!(event.kind, protocol::EventKind::ClientFinished { .. }) {
                clients_left -= 1;
            }
        }
    }
    events
}

fn events_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("events");
    group.sample_size(10);
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        let scenario = polite_crowd(model, 100, 20);
        let events = run_to_end(scenario.clone());
        group.throughput(Throughput::Elements(events));
        group.bench_function(format!("{model:?} 100 clients x 20 messages"), |b| {
            b.iter(|| run_to_end(scenario.clone()))
        });
    }
    group.finish();
}

fn thousand_clients(c: &mut Criterion) {
    let mut group = c.benchmark_group("scenario");
    group.sample_size(10);
    let scenario = polite_crowd(ServerModel::AsyncTasks, 1000, 100);
    let events = run_to_end(scenario.clone());
    group.throughput(Throughput::Elements(events));
    group.bench_function("AsyncTasks 1000 clients x 100 messages", |b| {
        b.iter(|| run_to_end(scenario.clone()))
    });
    group.finish();
}

criterion_group!(benches, events_per_second, thousand_clients);
criterion_main!(benches);
