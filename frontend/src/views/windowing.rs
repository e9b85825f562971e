//! Long lists that cost only what is in view: the rows shown are those under
//! the scroll box's window (and a few around it); spacers stand for the rest,
//! so the scroll bar still tells how long the list is. Rows have one fixed
//! height for this to hold.

use yew::prelude::*;

/// Rows rendered beyond each edge of the window, so that scrolling shows no
/// gap before the next render.
const OVERSCAN: usize = 3;

/// Which rows of a list to render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InView {
    /// The first row rendered.
    pub first: usize,
    /// One past the last row rendered.
    pub end: usize,
    /// Height standing for the rows above `first`.
    pub before_px: f64,
    /// Height standing for the rows from `end` on.
    pub after_px: f64,
}

/// The rows of a `total`-row list, each `row_px` high, that a window
/// `view_px` high shows when scrolled `scroll_top` down.
pub fn in_view(total: usize, row_px: f64, view_px: f64, scroll_top: f64) -> InView {
    let top_row = (scroll_top.max(0.0) / row_px) as usize;
    let first = top_row.saturating_sub(OVERSCAN).min(total);
    let end = (top_row + (view_px / row_px).ceil() as usize + OVERSCAN).min(total);
    InView {
        first,
        end,
        before_px: first as f64 * row_px,
        after_px: (total - end) as f64 * row_px,
    }
}

/// How far a scroll box is scrolled, and the `onscroll` that keeps it.
#[hook]
pub fn use_scroll_top() -> (f64, Callback<Event>) {
    let scroll_top = use_state_eq(|| 0.0_f64);
    let onscroll = {
        let scroll_top = scroll_top.clone();
        Callback::from(move |event: Event| {
            if let Some(target) = event.target_dyn_into::<web_sys::Element>() {
                scroll_top.set(f64::from(target.scroll_top()));
            }
        })
    };
    (*scroll_top, onscroll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_top_the_window_and_a_few_more_rows_render() {
        let view = in_view(100_000, 20.0, 300.0, 0.0);
        assert_eq!((view.first, view.end), (0, 15 + OVERSCAN));
        assert_eq!(view.before_px, 0.0);
        assert_eq!(view.after_px, (100_000 - 18) as f64 * 20.0);
    }

    #[test]
    fn scrolled_down_the_rows_under_the_window_render() {
        let view = in_view(100_000, 20.0, 300.0, 20.0 * 5_000.0 + 7.0);
        assert_eq!((view.first, view.end), (5_000 - OVERSCAN, 5_015 + OVERSCAN));
        assert_eq!(
            view.before_px + (view.end - view.first) as f64 * 20.0 + view.after_px,
            100_000.0 * 20.0,
            "spacers and rows make the whole height"
        );
    }

    #[test]
    fn short_and_overscrolled_lists_stay_in_bounds() {
        let short = in_view(4, 20.0, 300.0, 0.0);
        assert_eq!((short.first, short.end, short.after_px), (0, 4, 0.0));
        let past = in_view(10, 20.0, 300.0, 10_000.0);
        assert_eq!((past.first, past.end), (10, 10));
        assert_eq!(in_view(0, 20.0, 300.0, 0.0).end, 0);
    }
}
