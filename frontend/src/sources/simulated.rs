//! The simulated source: the simulator running in the page, played at a
//! chosen speed or stepped one loop iteration at a time.
//!
//! Plain Rust around [`loopscope_sim::Simulation`]: the page calls
//! [`SimSource::advance`] on each tick with the real time that passed and
//! feeds the returned events to the world. Tested natively below.

use loopscope_sim::{ClientBehaviour, ClientSpec, Scenario, Simulation};
use protocol::{Event, Micros, ShutdownPolicy};

use crate::model::scenario::{MAX_LINK_CLIENTS, ScenarioLink, SimSettings, arrival_gap};
use protocol::presets::BEHAVIOURS;

/// Most real time one tick stands for, so that a tab coming back from the
/// background (it runs no frames there) does not jump ahead by minutes.
/// A frame takes 17 ms, so this cap never slows a page that keeps up.
const MAX_TICK_MS: f64 = 100.0;

/// How far `step` may look for the next loop iteration.
const STEP_LIMIT: Micros = 60_000_000;

/// The simulation as the page drives it.
pub struct SimSource {
    settings: SimSettings,
    clients: Vec<&'static str>,
    simulation: Simulation,
    /// Whether time runs.
    pub playing: bool,
    /// Virtual time per real time.
    pub speed: f64,
    /// The share of the asked virtual time the recent ticks ran (1 when
    /// the page keeps up), smoothed over about ten ticks.
    pace: f64,
}

/// Wakes the simulation handles between two looks at the clock.
const SLICE_WAKES: usize = 4;

/// The scenario a simulation starts with: its clients arriving one after
/// the other ([`arrival_gap`] apart), so that there is something to watch
/// at once.
pub fn starting_scenario(settings: SimSettings, clients: &[&str]) -> Scenario {
    let mut scenario = Scenario::new(settings.model)
        .style(settings.style)
        .seed(settings.seed);
    let gap = arrival_gap(clients.len());
    for (index, key) in clients.iter().enumerate() {
        if let Some(behaviour) = ClientBehaviour::preset(key) {
            scenario = scenario.client(behaviour, index as Micros * gap);
        }
    }
    scenario
}

impl SimSource {
    /// The simulation a link describes, playing.
    pub fn new(link: ScenarioLink) -> Self {
        SimSource {
            settings: link.settings,
            simulation: Simulation::new(starting_scenario(link.settings, &link.clients)),
            clients: link.clients,
            playing: true,
            speed: link.speed,
            pace: 1.0,
        }
    }

    /// The link that reproduces this scenario.
    pub fn link(&self) -> ScenarioLink {
        ScenarioLink {
            settings: self.settings,
            speed: self.speed,
            clients: self.clients.clone(),
            compare: None,
        }
    }

    /// What it was started from.
    pub fn settings(&self) -> SimSettings {
        self.settings
    }

    /// The virtual time now.
    pub fn now(&self) -> Micros {
        self.simulation.now()
    }

    /// Starts again from `settings`, keeping speed and play state.
    pub fn reset(&mut self, settings: SimSettings) {
        self.settings = settings;
        self.simulation = Simulation::new(starting_scenario(settings, &self.clients));
        self.pace = 1.0;
    }

    /// Lets `real_ms` of real time pass (scaled by the speed) if playing,
    /// and returns what happened. Between slices of work it asks
    /// `out_of_time`: once that says yes, the rest of the tick is not run,
    /// and the simulated clock falls behind the asked speed (a frame stays
    /// short; [`SimSource::behind`] tells the page to say so).
    #[cfg(test)]
    pub fn advance(&mut self, real_ms: f64, out_of_time: impl Fn() -> bool) -> Vec<Event> {
        let mut happened = Vec::new();
        self.advance_into(real_ms, &out_of_time, &mut |events| happened.extend(events));
        happened
    }

    /// [`SimSource::advance`], handing each slice's events to `take` as
    /// they come, so that `out_of_time` counts the time taking them costs.
    pub fn advance_into(
        &mut self,
        real_ms: f64,
        out_of_time: &dyn Fn() -> bool,
        take: &mut dyn FnMut(Vec<Event>),
    ) {
        let virtual_us = (real_ms.min(MAX_TICK_MS) * 1000.0 * self.speed) as Micros;
        self.advance_to_into(self.simulation.now() + virtual_us, out_of_time, take);
    }

    /// Like [`SimSource::advance_into`], to the virtual time `target` (a
    /// compared run follows the first one's clock this way, and catches up
    /// when it fell behind).
    pub fn advance_to_into(
        &mut self,
        target: Micros,
        out_of_time: &dyn Fn() -> bool,
        take: &mut dyn FnMut(Vec<Event>),
    ) {
        if !self.playing {
            take(self.simulation.drain_events());
            return;
        }
        let before = self.simulation.now();
        loop {
            let reached = self.simulation.run_toward(target, SLICE_WAKES);
            take(self.simulation.drain_events());
            if reached || out_of_time() {
                break;
            }
        }
        if target > before {
            let ran = (self.simulation.now() - before) as f64 / (target - before) as f64;
            self.pace = 0.9 * self.pace + 0.1 * ran;
        }
    }

    /// The speed the simulation really ran at lately, when that is clearly
    /// below the asked one (the page gave it all the time a frame allows).
    pub fn behind(&self) -> Option<f64> {
        (self.playing && self.pace < 0.9).then_some(self.speed * self.pace)
    }

    /// Pauses and runs exactly one iteration of the server's loop.
    pub fn step(&mut self) -> Vec<Event> {
        self.playing = false;
        self.simulation.step(STEP_LIMIT);
        self.simulation.drain_events()
    }

    /// `count` new clients of behaviour `key` connect, the first now, the
    /// others [`arrival_gap`] apart, and are part of the scenario's link
    /// from now on. A scenario holds at most [`MAX_LINK_CLIENTS`] clients:
    /// says how many were added.
    pub fn add_clients(&mut self, key: &str, count: usize) -> usize {
        let Some((key, _)) = BEHAVIOURS.iter().find(|(known, _)| *known == key) else {
            return 0;
        };
        let Some(behaviour) = ClientBehaviour::preset(key) else {
            return 0;
        };
        let count = count.min(MAX_LINK_CLIENTS.saturating_sub(self.clients.len()));
        let (now, gap) = (self.simulation.now(), arrival_gap(count));
        for index in 0..count {
            self.simulation.add_client(ClientSpec {
                behaviour: behaviour.clone(),
                start: now + index as Micros * gap,
            });
            self.clients.push(key);
        }
        count
    }

    /// Begins a graceful shutdown now, under `policy`.
    pub fn shutdown(&mut self, policy: ShutdownPolicy, grace: Micros) {
        self.simulation.shutdown_with(policy, grace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopscope_sim::{HandlerStyle, ServerModel};

    use protocol::EventKind;

    #[test]
    fn playing_advances_by_real_time_times_speed() {
        let mut source = SimSource::new(ScenarioLink::default());
        source.speed = 5.0;
        source.advance(10.0, || false);
        assert_eq!(source.now(), 50_000);
        source.playing = false;
        source.advance(10.0, || false);
        assert_eq!(source.now(), 50_000, "paused: time stands still");
    }

    #[test]
    fn a_link_round_trips_and_restores_its_scenario() {
        let link = ScenarioLink {
            settings: SimSettings {
                model: ServerModel::Selector,
                style: HandlerStyle::Unhandled,
                seed: 7,
            },
            speed: 5.0,
            clients: vec!["polite", "crasher", "flood"],
            compare: Some(ServerModel::Blocking),
        };
        let query = link.to_query();
        assert_eq!(
            query,
            "?model=selector&errors=unhandled&seed=7&speed=5&clients=polite,crasher,flood\
             &compare=blocking"
        );
        assert_eq!(ScenarioLink::parse(&query), link);
    }

    #[test]
    fn many_alike_clients_make_a_short_link() {
        let link = ScenarioLink::parse("?clients=polite*3,flood,silent*2");
        assert_eq!(
            link.clients,
            ["polite", "polite", "polite", "flood", "silent", "silent"]
        );
        assert!(
            link.to_query()
                .ends_with("&clients=polite*3,flood,silent*2")
        );
        let many = ScenarioLink::parse("?clients=polite*999,slow*5,crasher*x");
        assert_eq!(many.clients.len(), MAX_LINK_CLIENTS, "capped");
        assert_eq!(many.clients.last(), Some(&"slow"));
    }

    #[test]
    fn a_thousand_clients_all_arrive_within_three_seconds() {
        assert_eq!(arrival_gap(3), 150_000);
        assert_eq!(arrival_gap(1_000), 3_000);
        assert_eq!(arrival_gap(0), 150_000);
    }

    #[test]
    fn a_link_ignores_what_it_does_not_understand() {
        let link = ScenarioLink::parse("?model=quantum&speed=3&clients=polite,teapot&x=1");
        assert_eq!(link.settings.model, ServerModel::AsyncTasks);
        assert_eq!(link.speed, 1.0, "only the offered speeds");
        assert_eq!(link.clients, vec!["polite"]);
    }

    #[test]
    fn added_clients_join_the_link_and_arrive_one_after_the_other() {
        let mut source = SimSource::new(ScenarioLink::default());
        source.add_clients("crasher", 2);
        source.add_clients("teapot", 5);
        assert_eq!(
            source.link().clients,
            vec!["polite", "polite", "polite", "crasher", "crasher"]
        );
        source.speed = 50.0;
        let added: Vec<Micros> = (0..40)
            .flat_map(|_| source.advance(1.0, || false))
            .filter(|event| {
                matches!(event.kind, EventKind::ClientStarted { client, .. } if client.0 > 3)
            })
            .map(|event| event.at)
            .collect();
        assert_eq!(added, [0, arrival_gap(2)]);
    }

    #[test]
    fn a_link_holds_at_most_its_share_of_clients() {
        let mut source = SimSource::new(ScenarioLink::default());
        assert_eq!(source.add_clients("silent", 5_000), MAX_LINK_CLIENTS - 3);
        assert_eq!(source.link().clients.len(), MAX_LINK_CLIENTS);
        assert_eq!(source.add_clients("silent", 1), 0);
    }

    #[test]
    fn a_long_tick_is_capped() {
        let mut source = SimSource::new(ScenarioLink::default());
        source.speed = 50.0;
        source.advance(60_000.0, || false);
        assert_eq!(source.now(), (MAX_TICK_MS * 1000.0 * 50.0) as Micros);
    }

    #[test]
    fn a_compared_run_that_fell_behind_catches_up_with_the_first_ones_clock() {
        let crowd = ScenarioLink::parse("?model=busy_poll&speed=50&clients=polite*200");
        let mut first = SimSource::new(crowd.clone());
        let mut second = SimSource::new(crowd);
        let mut ignore = |_: Vec<Event>| {};
        for _ in 0..10 {
            first.advance_into(40.0, &|| false, &mut ignore);
            second.advance_to_into(first.now(), &|| true, &mut ignore);
        }
        assert!(second.now() < first.now(), "pressed, it fell behind");
        assert!(second.behind().is_some(), "and the page can say so");
        second.advance_to_into(first.now(), &|| false, &mut ignore);
        assert_eq!(
            second.now(),
            first.now(),
            "given time, it is at the same moment"
        );
    }

    #[test]
    fn a_page_out_of_time_runs_one_slice_a_tick_and_says_it_is_behind() {
        let crowd = ScenarioLink::parse("?model=busy_poll&speed=50&clients=polite*200");
        let mut pressed = SimSource::new(crowd.clone());
        let mut unhurried = SimSource::new(crowd);
        for _ in 0..30 {
            pressed.advance(40.0, || true);
            unhurried.advance(40.0, || false);
        }
        assert_eq!(
            unhurried.now(),
            30 * 40 * 50 * 1000,
            "with time enough the clock keeps pace"
        );
        assert!(unhurried.behind().is_none());
        assert!(
            pressed.now() < unhurried.now() / 2,
            "{} vs {}",
            pressed.now(),
            unhurried.now()
        );
        let speed = pressed
            .behind()
            .expect("the pressed page says it is behind");
        assert!(speed < 45.0, "{speed}");
    }

    #[test]
    fn a_step_pauses_and_runs_one_loop_iteration() {
        let mut source = SimSource::new(ScenarioLink::default());
        source.advance(0.0, || false);
        let events = source.step();
        assert!(!source.playing);
        let iterations = events
            .iter()
            .filter(|event| matches!(event.kind, EventKind::LoopIteration { .. }))
            .count();
        assert_eq!(iterations, 1);
    }

    #[test]
    fn the_starting_scenario_serves_its_clients() {
        let mut source = SimSource::new(ScenarioLink {
            settings: SimSettings {
                model: ServerModel::Selector,
                ..SimSettings::default()
            },
            ..ScenarioLink::default()
        });
        source.speed = 50.0;
        let mut finished = 0;
        for _ in 0..100 {
            finished += source
                .advance(100.0, || false)
                .iter()
                .filter(|event| matches!(event.kind, EventKind::ClientFinished { error: None, .. }))
                .count();
        }
        assert_eq!(finished, 3);
    }
}
