//! The badge in the header that says whether the page is watching a live
//! lab (or a saved run), with the statuses it went through in `data-history` (see
//! [`crate::sources::live::StatusHistory`]).

use yew::prelude::*;

use crate::sources::live::LinkStatus;

/// Props of [`StatusBadge`].
#[derive(Properties, PartialEq)]
pub struct StatusBadgeProps {
    /// The link's state.
    pub status: LinkStatus,
    /// The statuses the link went through, oldest first, space-separated.
    pub history: AttrValue,
    /// The lab's number, once greeted.
    pub lab: Option<u64>,
    /// Whether the page shows a saved run (whatever its link does).
    #[prop_or_default]
    pub saved: bool,
}

/// "live · lab #3", "reconnecting in 2 s", ...
#[function_component]
pub fn StatusBadge(props: &StatusBadgeProps) -> Html {
    let text = match &props.status {
        LinkStatus::Connecting => "connecting to the relay…".to_owned(),
        LinkStatus::Live => match props.lab {
            Some(lab) => format!("live · lab #{lab}"),
            None => "live".to_owned(),
        },
        LinkStatus::Lost { retry_in_s } => format!("relay lost · reconnecting in {retry_in_s} s"),
        LinkStatus::NoRelay { retry_in_s } => format!("no relay · retrying in {retry_in_s} s"),
        LinkStatus::Closed { .. } => "lab closed by the relay".to_owned(),
        LinkStatus::Refused { .. } => "refused by the relay".to_owned(),
        LinkStatus::Static => "runs in your browser".to_owned(),
    };
    // A saved run is no lab's: the badge says what is shown, then the link.
    let text = if props.saved {
        format!(
            "saved run · {}",
            if props.status == LinkStatus::Live {
                "relay live".to_owned()
            } else {
                text
            }
        )
    } else {
        text
    };
    let key = props.status.key();
    html! {
        <p id="link-status" class={classes!("status", key)} data-status={key}
            data-history={props.history.clone()} role="status" aria-live="polite">
            { text }
        </p>
    }
}
