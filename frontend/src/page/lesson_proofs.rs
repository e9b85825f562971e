//! Each step's scenario, run through the simulator and the [`World`] as
//! the page runs it, proves the answer the step teaches; the same proof
//! on a run that teaches otherwise proves another answer (or nothing), so
//! a proof is a test of the run, not a fixed text. (Here, beside the
//! page, because they run the simulation as the page drives it.)

use protocol::{Micros, ServerModel, ShutdownPolicy, TaskOutcome};

use crate::model::lesson::*;
use crate::model::scenario::ScenarioLink;
use crate::model::world::{TaskState, World};
use crate::sources::simulated::SimSource;

/// Most virtual time a step's run may take to prove something.
const PATIENCE: Micros = 30_000_000;

/// Runs `link` as the page would (frames of 16 ms), shutting the server
/// down under `policy` when the step says, until its proof says something
/// (the step's own, which reads only runs of its model; or the bare one,
/// for runs of another model).
fn first_proof(step: &Step, link: ScenarioLink, policy: ShutdownPolicy) -> Option<Proof> {
    let own = link.settings == step.link().settings;
    let proof = |step: &Step, world: &World| {
        if own {
            step.proof_of(world)
        } else {
            (step.proof)(world)
        }
    };
    let mut sim = SimSource::new(link);
    let mut world = World::default();
    let mut shut_down = false;
    while sim.now() < PATIENCE {
        for event in sim.advance(16.0, || false) {
            world.apply(&event);
        }
        if let Some(proof) = proof(step, &world) {
            return Some(proof);
        }
        if let Some(after) = step.shutdown_after
            && !shut_down
            && sim.now() >= after
        {
            sim.shutdown(policy, STEP_GRACE);
            shut_down = true;
        }
    }
    None
}

/// The step's scenario under another model.
fn under(step: &Step, model: ServerModel) -> ScenarioLink {
    let mut link = step.link();
    link.settings.model = model;
    link
}

#[test]
fn every_step_s_scenario_proves_what_it_teaches() {
    for (index, step) in STEPS.iter().enumerate() {
        let proof = first_proof(step, step.link(), ShutdownPolicy::GraceThenCancel)
            .unwrap_or_else(|| panic!("step {}'s run proved nothing", index + 1));
        assert_eq!(
            proof.answer,
            step.teaches,
            "step {} ({}): the run proved {:?}: {}",
            index + 1,
            step.title,
            step.answers[proof.answer],
            proof.evidence
        );
        assert!(
            proof.evidence.chars().any(|c| c.is_ascii_digit()),
            "step {}: evidence without numbers: {}",
            index + 1,
            proof.evidence
        );
    }
}

#[test]
fn a_run_that_teaches_otherwise_proves_another_answer() {
    let other = |number: usize, model: ServerModel| {
        let step = step(number).unwrap();
        first_proof(step, under(step, model), ShutdownPolicy::GraceThenCancel)
            .map(|proof| proof.answer)
    };
    // asyncio serves the three clients together: nobody waits in the backlog.
    assert_eq!(other(1, ServerModel::AsyncTasks), Some(0));
    // A selector sleeps while its client is silent.
    assert_eq!(other(2, ServerModel::Selector), Some(0));
    // Busy polling has no selector: nothing is ever reported ready.
    assert_eq!(other(3, ServerModel::BusyPoll), None);
    // Busy polling tries sockets that have nothing.
    assert_eq!(other(4, ServerModel::BusyPoll), Some(1));
    // A blocking server answers client 2 only once client 1 has left.
    assert_eq!(other(5, ServerModel::Blocking), Some(0));
    // The same unhandled error takes a selector loop down with everyone.
    assert_eq!(other(6, ServerModel::Selector), Some(1));
}

#[test]
fn the_shutdown_step_tells_the_policies_apart() {
    let step = step(7).unwrap();
    let proof = |policy| first_proof(step, step.link(), policy).unwrap();
    let says_deadline = |evidence: &str| {
        let evidence = evidence.to_lowercase();
        evidence.contains("deadline") || evidence.contains("grace")
    };
    let grace = proof(ShutdownPolicy::GraceThenCancel);
    assert_eq!(grace.answer, 2);
    assert!(
        grace.evidence.contains("cancelled at the deadline"),
        "{}",
        grace.evidence
    );
    let at_once = proof(ShutdownPolicy::CancelAtOnce);
    assert_eq!(at_once.answer, 0);
    assert!(
        at_once.evidence.contains("cancelled at once"),
        "{}",
        at_once.evidence
    );
    let waiting = proof(ShutdownPolicy::WaitForEveryone);
    assert_eq!(waiting.answer, 1);
    // Saying goodbye first closes everyone at once too, told as such.
    let goodbye = proof(ShutdownPolicy::NotifyFirst);
    assert_eq!(goodbye.answer, 0);
    assert!(goodbye.evidence.contains("goodbye"), "{}", goodbye.evidence);
    // No deadline where the policy has none.
    for proof in [&at_once, &waiting, &goodbye] {
        assert!(!says_deadline(&proof.evidence), "{}", proof.evidence);
    }
}

/// The numbers in step 7's evidence are the lanes': as many cancelled
/// (and finished) as the lanes show ended so after the shutdown began.
#[test]
fn the_shutdown_step_s_evidence_counts_what_the_lanes_show() {
    let step = step(7).unwrap();
    for policy in [
        ShutdownPolicy::GraceThenCancel,
        ShutdownPolicy::CancelAtOnce,
        ShutdownPolicy::NotifyFirst,
    ] {
        let mut sim = SimSource::new(step.link());
        let mut world = World::default();
        let mut shut_down = false;
        let proof = loop {
            assert!(sim.now() < PATIENCE, "{policy:?}: no proof");
            for event in sim.advance(16.0, || false) {
                world.apply(&event);
            }
            if let Some(proof) = step.proof_of(&world) {
                break proof;
            }
            if !shut_down && sim.now() >= step.shutdown_after.unwrap() {
                sim.shutdown(policy, STEP_GRACE);
                shut_down = true;
            }
        };
        let began = world.shutdown_began.unwrap();
        let ended = |outcome: TaskOutcome| {
            world
                .connections
                .values()
                .filter(|lane| {
                    lane.state == TaskState::Finished(outcome.clone()) && lane.since >= began
                })
                .count()
        };
        let numbers: Vec<usize> = proof
            .evidence
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|piece| piece.parse().ok())
            .collect();
        let cancelled = ended(TaskOutcome::Cancelled);
        match proof.answer {
            2 => assert_eq!(
                numbers,
                [ended(TaskOutcome::Ok), cancelled],
                "{}",
                proof.evidence
            ),
            _ => assert_eq!(numbers, [cancelled], "{policy:?}: {}", proof.evidence),
        }
    }
}

/// Step 2 gives the CPU share the world measured: a loop that never
/// sleeps is proved to run flat out on a busy machine too (where it gets
/// less than a core), and the proof says why the share is lower; with no
/// measurement it proves nothing yet.
#[test]
fn the_busy_waiting_proof_gives_the_measured_share() {
    use protocol::{ConnId, Event, EventKind, HandlerStyle, ServerModel};
    let world = |busy_us: Option<u64>| {
        let mut world = World::default();
        let mut kinds = vec![
            EventKind::Listening {
                addr: "127.0.0.1:1".into(),
                model: ServerModel::BusyPoll,
                errors: HandlerStyle::Handled,
            },
            EventKind::Accepted {
                conn: ConnId(1),
                peer: "a".into(),
            },
            EventKind::Spins {
                iterations: 2_000_000,
                would_block: 2_000_000,
            },
        ];
        if let Some(busy_us) = busy_us {
            kinds.push(EventKind::Cpu {
                busy_us,
                window_us: 100_000,
            });
        }
        for kind in kinds {
            world.apply(&Event {
                at: 1_500_000,
                kind,
            });
        }
        world
    };
    let step = step(2).unwrap();
    let idle_machine = step.proof_of(&world(Some(97_000))).unwrap();
    assert_eq!(idle_machine.answer, 2);
    assert!(
        idle_machine.evidence.contains("ran 97% of the time."),
        "{}",
        idle_machine.evidence
    );
    let busy_machine = step.proof_of(&world(Some(40_000))).unwrap();
    assert_eq!(busy_machine.answer, 2);
    assert!(
        busy_machine.evidence.contains("ran 40% of the time")
            && busy_machine.evidence.contains("less than a core"),
        "{}",
        busy_machine.evidence
    );
    assert_eq!(step.proof_of(&world(None)), None);
}

#[test]
fn a_step_s_proof_reads_only_runs_of_its_model() {
    // Step 2's scenario run under the selector: the proof alone says the
    // server rested; the step, whose model is busy poll, says nothing.
    let step = step(2).unwrap();
    let mut sim = SimSource::new(under(step, ServerModel::Selector));
    let mut world = World::default();
    while sim.now() < 3_000_000 {
        for event in sim.advance(16.0, || false) {
            world.apply(&event);
        }
    }
    assert_eq!((step.proof)(&world).map(|proof| proof.answer), Some(0));
    assert_eq!(step.proof_of(&world), None);
}

#[test]
fn each_step_names_a_model_and_offers_its_answers() {
    for (index, step) in STEPS.iter().enumerate() {
        assert!(
            step.scenario
                .contains(&format!("model={}", step.link().settings.model.key())),
            "step {}: {}",
            index + 1,
            step.scenario
        );
        assert!(step.answers.len() >= 3 && step.teaches < step.answers.len());
        assert!(!step.look_at.selectors.is_empty());
    }
    // The answer taught is not always in the same place.
    let places: std::collections::BTreeSet<_> = STEPS.iter().map(|step| step.teaches).collect();
    assert!(places.len() >= 2);
}

#[test]
fn progress_survives_storage_and_ignores_what_it_cannot_read() {
    let mut progress = Progress::default();
    assert_eq!(progress.next_step(), 1);
    progress.predicted.insert(1, 0);
    progress.proved.insert(1, 1);
    progress.proved.insert(2, 2);
    assert_eq!(progress.next_step(), 3);
    let stored = progress.to_json();
    assert_eq!(Progress::parse(Some(&stored)), progress);
    assert_eq!(Progress::parse(Some("{not json")), Progress::default());
    assert_eq!(Progress::parse(None), Progress::default());
    for number in 1..=STEPS.len() {
        progress.proved.insert(number, 0);
    }
    assert_eq!(progress.next_step(), STEPS.len());
}
