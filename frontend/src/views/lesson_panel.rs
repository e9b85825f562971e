//! The lesson panel: one step of the chapter at a time, in order. It says
//! what to watch and where, asks for a prediction, runs the step's scenario
//! and shows which answer the run proved, with its evidence.

use yew::prelude::*;

use crate::model::lesson::{Progress, STEPS, Step};
use crate::page::{LessonAction, RunState};

/// Props of [`LessonPanel`].
#[derive(Properties, PartialEq)]
pub struct LessonPanelProps {
    /// The step open, from 1.
    pub number: usize,
    /// The learner's progress.
    pub progress: Progress,
    /// The step's run.
    pub run: RunState,
    /// How many runs were started since the page opened: the proof shown
    /// belongs to the last (`data-run`).
    pub runs: u32,
    /// Where the run happens: "the simulation" or "the live lab".
    pub source: AttrValue,
    /// Told what the learner does.
    pub on_action: Callback<LessonAction>,
}

/// The panel.
#[function_component]
pub fn LessonPanel(props: &LessonPanelProps) -> Html {
    let Some(step) = crate::model::lesson::step(props.number) else {
        return html! {};
    };
    let number = props.number;
    let act = |action: LessonAction| {
        let on_action = props.on_action.clone();
        Callback::from(move |_: MouseEvent| on_action.emit(action.clone()))
    };
    let predicted = props.progress.predicted.get(&number).copied();
    let nav = STEPS.iter().enumerate().map(|(index, each)| {
        let each_number = index + 1;
        let done = props.progress.done(each_number);
        html! {
            <li>
                <button id={format!("lesson-go-{each_number}")}
                        class={classes!("step-dot", (each_number == number).then_some("current"), done.then_some("done"))}
                        aria-current={(each_number == number).then_some("step")}
                        title={format!("{each_number}. {}{}", each.title, if done { " (done)" } else { "" })}
                        onclick={act(LessonAction::Go(each_number))}>
                    { each_number }
                </button>
            </li>
        }
    });
    html! {
        <section id="lesson" class="panel lesson" aria-labelledby="lesson-title">
            <div class="lesson-head">
                <button id="lesson-prev" class="secondary arrow" disabled={number == 1} aria-label="Previous step (p)"
                        title="Previous step (p)" onclick={act(LessonAction::Go(number.saturating_sub(1).max(1)))}>{ "‹" }</button>
                <ol class="lesson-steps" aria-label="Steps">{ for nav }</ol>
                <button id="lesson-next" class="secondary arrow" disabled={number == STEPS.len()} aria-label="Next step (n)"
                        title="Next step (n)" onclick={act(LessonAction::Go((number + 1).min(STEPS.len())))}>{ "›" }</button>
                <button id="lesson-close" class="secondary arrow" aria-label="Close the lesson" title="Close the lesson"
                        onclick={act(LessonAction::Close)}>{ "×" }</button>
            </div>
            <h2 id="lesson-title">{ format!("{number}. {}", step.title) }</h2>
            <p id="lesson-watch">{ step.watch }</p>
            <p class="lesson-look">
                { "Watch " }
                <button id="lesson-look" class="link" onclick={act(LessonAction::Look)}>{ step.look_at.what }</button>
                { format!(" ({}).", props.source) }
            </p>
            { question(step, number, predicted, &props.run, &props.on_action) }
            <div class="lesson-run controls">
                <button id="lesson-run" disabled={predicted.is_none()} onclick={act(LessonAction::Run)}
                        title={if predicted.is_none() { "Predict first: pick an answer" } else { "Run the step's scenario from its start" }}>
                    { if props.run == RunState::Ready { "Run it" } else { "Run it again" } }
                </button>
                if props.run == RunState::Running {
                    <span id="lesson-running" class="hint" role="status">{ "Running… watch the page." }</span>
                }
            </div>
            { proof_view(step, predicted, &props.run, props.runs) }
        </section>
    }
}

/// The question and its answers, as radio buttons.
fn question(
    step: &Step,
    number: usize,
    predicted: Option<usize>,
    run: &RunState,
    on_action: &Callback<LessonAction>,
) -> Html {
    html! {
        <fieldset id="lesson-question" class="lesson-question">
            <legend>{ "Predict: " }{ step.question }</legend>
            { for step.answers.iter().enumerate().map(|(index, answer)| {
                let on_action = on_action.clone();
                let proved = matches!(run, RunState::Proved(proof) if proof.answer == index);
                html! {
                    <label class={classes!("answer", proved.then_some("proved"))} for={format!("lesson-answer-{index}")}>
                        <input type="radio" name={format!("lesson-{number}")} id={format!("lesson-answer-{index}")}
                               value={index.to_string()} checked={predicted == Some(index)}
                               onchange={Callback::from(move |_: Event| on_action.emit(LessonAction::Predict(index)))} />
                        { *answer }
                    </label>
                }
            }) }
        </fieldset>
    }
}

/// What the run proved, against the prediction.
fn proof_view(step: &Step, predicted: Option<usize>, run: &RunState, runs: u32) -> Html {
    let RunState::Proved(proof) = run else {
        return html! {};
    };
    let verdict = match predicted {
        Some(answer) if answer == proof.answer => "You predicted it.",
        Some(_) => "Not what you predicted: look again, then try the next step.",
        None => "",
    };
    html! {
        <div id="lesson-proof" class="lesson-proof" role="status" data-answer={proof.answer.to_string()} data-run={runs.to_string()}>
            <p id="lesson-evidence"><strong>{ "The run proved the answer in green: " }</strong>{ proof.evidence.clone() }</p>
            <p id="lesson-verdict" class="hint">{ verdict }</p>
            if proof.answer != step.teaches {
                <p id="lesson-unusual" class="hint">
                    { format!("Runs of this step usually prove \u{201c}{}\u{201d}; this one went otherwise, and the evidence above is what happened.", step.answers[step.teaches]) }
                </p>
            }
        </div>
    }
}
