//! The badge in the header that says whether the page is watching a live lab.

use yew::prelude::*;

use crate::live::LinkStatus;

/// Props of [`StatusBadge`].
#[derive(Properties, PartialEq)]
pub struct StatusBadgeProps {
    /// The link's state.
    pub status: LinkStatus,
    /// The lab's number, once greeted.
    pub lab: Option<u64>,
}

/// "live · lab #3", "reconnecting in 2 s", ...
#[function_component]
pub fn StatusBadge(props: &StatusBadgeProps) -> Html {
    let (key, text) = match &props.status {
        LinkStatus::Connecting => ("connecting", "connecting to the relay…".to_owned()),
        LinkStatus::Live => match props.lab {
            Some(lab) => ("live", format!("live · lab #{lab}")),
            None => ("live", "live".to_owned()),
        },
        LinkStatus::Lost { retry_in_s } => (
            "lost",
            format!("relay lost · reconnecting in {retry_in_s} s"),
        ),
        LinkStatus::NoRelay { retry_in_s } => {
            ("no-relay", format!("no relay · retrying in {retry_in_s} s"))
        }
        LinkStatus::Closed { .. } => ("closed", "lab closed by the relay".to_owned()),
        LinkStatus::Refused { .. } => ("refused", "refused by the relay".to_owned()),
    };
    html! {
        <p id="link-status" class={classes!("status", key)} data-status={key} role="status" aria-live="polite">
            { text }
        </p>
    }
}
