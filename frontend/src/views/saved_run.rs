//! The panel that stands for the controls while a saved run is shown:
//! where it was recorded, how long, its scenario, and its own play button.

use loopscope_runfile::RunSource;
use yew::prelude::*;

use crate::model::numbers::thousands;
use crate::model::recording::Recording;
use crate::model::scenario::ScenarioLink;
use crate::page::SavedRun;

/// The panel that stands for the controls while a saved run is shown.
pub fn saved_run_panel(
    saved: &SavedRun,
    recording: &Recording,
    playing: bool,
    on_replay: Callback<()>,
    to_sim: Callback<MouseEvent>,
) -> Html {
    let header = &saved.header;
    let origin = match (header.source, &header.hello) {
        (RunSource::Live, Some(hello)) => {
            format!("a live lab (#{} on {})", hello.lab, hello.echo_addr)
        }
        (RunSource::Live, None) => "a live lab".to_owned(),
        (RunSource::Simulation, _) => "a simulation".to_owned(),
    };
    let end = recording.end();
    html! {
        <section id="saved-run" class="panel controls" aria-labelledby="saved-run-title">
            <h2 id="saved-run-title">{ "Saved run" }</h2>
            <p><strong class="file-name">{ saved.name.clone() }</strong></p>
            <p id="saved-run-summary">
                { format!("Recorded from {origin}: {} events over {:.3} s{}. It replays here on its own: \
                          play it, drag the timeline, Step back (←) and Step (→) through it.",
                          thousands(end - recording.first()),
                          recording.time_at(end).saturating_sub(recording.time_at(recording.first())) as f64 / 1e6,
                          if recording.let_go() > 0 {
                              format!(" (its first {} events were let go before it was saved: \
                                       what happened before is not in it)", thousands(recording.let_go()))
                          } else {
                              String::new()
                          }) }
            </p>
            if let Some(scenario) = &header.scenario {
                // A link only to a scenario this page would make, built
                // from its parsed settings (and relative, so it stays on
                // this page's own path).
                if let Some(link) = ScenarioLink::parse_exact(scenario) {
                    <p class="hint">{ "Its scenario: " }<a id="saved-scenario" href={link.to_query()}>{ link.to_query() }</a></p>
                } else {
                    <p class="hint">{ "Its scenario is not one this page can open: " }<code>{ scenario.clone() }</code></p>
                }
            }
            <div class="controls">
                <button id="replay-play" onclick={Callback::from(move |_: MouseEvent| on_replay.emit(()))}
                        title="Play the run at its own pace (Space)">
                    { if playing { "Pause" } else { "Play" } }
                </button>
                <button id="close-saved-run" class="secondary" onclick={to_sim}>{ "Back to the simulation" }</button>
            </div>
        </section>
    }
}
