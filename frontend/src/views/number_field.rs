//! A number field for the controls: it keeps what the person types (even
//! empty, mid-edit) however often the page re-renders, and reads it as a
//! number within bounds.

use std::fmt::Display;
use std::str::FromStr;

use web_sys::HtmlInputElement;
use yew::prelude::*;

/// What [`use_number_field`] gives a form.
pub struct NumberField<T> {
    /// The number the field says, within bounds; the default while it says
    /// none.
    pub value: T,
    /// The field's text, as typed: its `value` attribute.
    pub text: String,
    /// The field's `oninput`.
    pub oninput: Callback<InputEvent>,
}

/// The number in `text`, kept within `min..=max`; `None` if there is none.
pub fn parse_within<T: FromStr + Ord>(text: &str, min: T, max: T) -> Option<T> {
    let value: T = text.trim().parse().ok()?;
    Some(value.clamp(min, max))
}

/// A number field starting at `default`, read within `min..=max`. When
/// `default` changes (say, a seed set from elsewhere), the field shows it.
#[hook]
pub fn use_number_field<T>(default: T, min: T, max: T) -> NumberField<T>
where
    T: FromStr + Ord + Copy + Display + 'static,
{
    let text = use_state_eq(|| default.to_string());
    {
        let text = text.clone();
        use_effect_with(default.to_string(), move |default| {
            text.set(default.clone())
        });
    }
    let oninput = {
        let text = text.clone();
        Callback::from(move |event: InputEvent| {
            let input: HtmlInputElement = event.target_unchecked_into();
            text.set(input.value());
        })
    };
    NumberField {
        value: parse_within(&text, min, max).unwrap_or(default),
        text: (*text).clone(),
        oninput,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_kept_within_bounds_and_anything_else_is_none() {
        assert_eq!(parse_within(" 4 ", 1, 1000), Some(4));
        assert_eq!(parse_within("5000", 1, 1000), Some(1000));
        assert_eq!(parse_within("0", 1_u32, 1000), Some(1));
        assert_eq!(parse_within::<u32>("", 1, 1000), None);
        assert_eq!(parse_within::<u32>("-3", 0, 10), None);
        assert_eq!(parse_within::<u32>("2.5", 0, 10), None);
    }
}
