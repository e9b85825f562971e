//! The playground's page: the app every attendee opens.

fn main() {
    yew::Renderer::<loopscope_frontend::app::App>::new().render();
}
