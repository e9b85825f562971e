//! Where a run's events come from, and the page's other ways out to the
//! browser: the [`live`] link to a lab on the relay, the [`simulated`]
//! source (the simulator in the page), the [`inbox`] a lab's bursts wait
//! in, the [`site`] the page came from, the [`workshop`]'s token and host
//! feed, [`saving`] runs and traces to files, and the [`frame_clock`].

pub mod download;
pub mod frame_clock;
pub mod inbox;
pub mod live;
pub mod saving;
pub mod simulated;
pub mod site;
pub mod workshop;
