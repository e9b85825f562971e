//! The host's dashboard, at `/host`: its own page and WebAssembly, so that
//! no attendee downloads it.

fn main() {
    yew::Renderer::<loopscope_frontend::host::HostDashboard>::new().render();
}
