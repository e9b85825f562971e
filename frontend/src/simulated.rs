//! The simulated source: the simulator running in the page, played at a
//! chosen speed or stepped one loop iteration at a time.
//!
//! Plain Rust around [`loopscope_sim::Simulation`]: the page calls
//! [`SimSource::advance`] on each tick with the real time that passed and
//! feeds the returned events to the world. Tested natively below.

use loopscope_sim::{ClientBehaviour, ClientSpec, HandlerStyle, Scenario, ServerModel, Simulation};
use protocol::{Event, Micros};

/// The speeds offered, as virtual time per real time.
pub const SPEEDS: [f64; 6] = [0.1, 0.25, 1.0, 5.0, 20.0, 50.0];

/// Most virtual time one tick may cover, so that a slow tab (or a
/// background one, ticking rarely) does not jump ahead by minutes.
const MAX_TICK: Micros = 250_000;

/// How far `step` may look for the next loop iteration.
const STEP_LIMIT: Micros = 60_000_000;

/// What a simulation starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimSettings {
    /// The server model.
    pub model: ServerModel,
    /// What handlers do with errors.
    pub style: HandlerStyle,
    /// The seed.
    pub seed: u64,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            model: ServerModel::AsyncTasks,
            style: HandlerStyle::Handled,
            seed: 1,
        }
    }
}

/// The simulation as the page drives it.
pub struct SimSource {
    settings: SimSettings,
    simulation: Simulation,
    /// Whether time runs.
    pub playing: bool,
    /// Virtual time per real time.
    pub speed: f64,
}

/// The scenario a fresh simulation starts with: three polite clients
/// arriving a little apart, so that there is something to watch at once.
pub fn starting_scenario(settings: SimSettings) -> Scenario {
    let polite = ClientBehaviour::Polite {
        messages: 5,
        size: 32,
        interval_ms: 400,
    };
    Scenario::new(settings.model)
        .style(settings.style)
        .seed(settings.seed)
        .clients(3, polite, 0, 150_000)
}

impl SimSource {
    /// A simulation of `settings`, playing at 1×.
    pub fn new(settings: SimSettings) -> Self {
        SimSource {
            settings,
            simulation: Simulation::new(starting_scenario(settings)),
            playing: true,
            speed: 1.0,
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
        self.simulation = Simulation::new(starting_scenario(settings));
    }

    /// Lets `real_ms` of real time pass (scaled by the speed) if playing,
    /// and returns what happened.
    pub fn advance(&mut self, real_ms: f64) -> Vec<Event> {
        if self.playing {
            let virtual_us = ((real_ms * 1000.0 * self.speed) as Micros).min(MAX_TICK);
            self.simulation
                .run_until(self.simulation.now() + virtual_us);
        }
        self.simulation.drain_events()
    }

    /// Pauses and runs exactly one iteration of the server's loop.
    pub fn step(&mut self) -> Vec<Event> {
        self.playing = false;
        self.simulation.step(STEP_LIMIT);
        self.simulation.drain_events()
    }

    /// A new client connects now.
    pub fn add_client(&mut self, behaviour: ClientBehaviour) {
        let start = self.simulation.now();
        self.simulation.add_client(ClientSpec { behaviour, start });
    }

    /// Begins a graceful shutdown now.
    pub fn shutdown(&mut self, grace: Micros) {
        self.simulation.shutdown(grace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::EventKind;

    #[test]
    fn playing_advances_by_real_time_times_speed() {
        let mut source = SimSource::new(SimSettings::default());
        source.speed = 5.0;
        source.advance(10.0);
        assert_eq!(source.now(), 50_000);
        source.playing = false;
        source.advance(10.0);
        assert_eq!(source.now(), 50_000, "paused: time stands still");
    }

    #[test]
    fn a_long_tick_is_capped() {
        let mut source = SimSource::new(SimSettings::default());
        source.speed = 50.0;
        source.advance(60_000.0);
        assert_eq!(source.now(), MAX_TICK);
    }

    #[test]
    fn a_step_pauses_and_runs_one_loop_iteration() {
        let mut source = SimSource::new(SimSettings::default());
        source.advance(0.0);
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
        let mut source = SimSource::new(SimSettings {
            model: ServerModel::Selector,
            ..SimSettings::default()
        });
        source.speed = 50.0;
        let mut finished = 0;
        for _ in 0..100 {
            finished += source
                .advance(100.0)
                .iter()
                .filter(|event| matches!(event.kind, EventKind::ClientFinished { error: None, .. }))
                .count();
        }
        assert_eq!(finished, 3);
    }
}
