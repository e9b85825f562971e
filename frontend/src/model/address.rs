//! The page's address keeps two kinds of things: the scenario (model,
//! clients, speed… which [`ScenarioLink`](crate::model::scenario::ScenarioLink)
//! reads and writes whole) and the view (`lesson=N`, the lesson step open;
//! `text=150`, the text size for a projector). Writing a scenario keeps the
//! view as it is, so that a copied link opens the same step at the same
//! size. Pure: strings in, strings out.

/// The keys that are about the view, not the scenario.
pub const VIEW_KEYS: [&str; 2] = ["lesson", "text"];

/// The text sizes offered, in percent; the first is the default.
pub const TEXT_SIZES: [u32; 4] = [100, 125, 150, 200];

/// The value of `key` in `query` (with or without its `?`).
pub fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    pairs(query)
        .find(|(name, _)| *name == key)
        .map(|(_, value)| value)
}

/// `scenario` (a query) with the view keys of `current` (the page's query
/// now) after it, unless `scenario` has its own.
pub fn with_view(scenario: &str, current: &str) -> String {
    let mut query = scenario.to_owned();
    for key in VIEW_KEYS {
        if param(scenario, key).is_none()
            && let Some(value) = param(current, key)
        {
            query = with_param(&query, key, Some(value));
        }
    }
    query
}

/// `query` with `key` set to `value`, or without it for `None`; the
/// other pairs keep their order.
pub fn with_param(query: &str, key: &str, value: Option<&str>) -> String {
    let mut kept: Vec<String> = pairs(query)
        .filter(|(name, _)| *name != key)
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if let Some(value) = value {
        kept.push(format!("{key}={value}"));
    }
    format!("?{}", kept.join("&"))
}

/// The lesson step a query opens, if a valid one (`1..=steps`).
pub fn lesson_step(query: &str, steps: usize) -> Option<usize> {
    param(query, "lesson")
        .and_then(|value| value.parse().ok())
        .filter(|number| (1..=steps).contains(number))
}

/// The text size a query asks for, if one of [`TEXT_SIZES`].
pub fn text_size(query: &str) -> u32 {
    param(query, "text")
        .and_then(|value| value.parse().ok())
        .filter(|size| TEXT_SIZES.contains(size))
        .unwrap_or(TEXT_SIZES[0])
}

fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter_map(|pair| pair.split_once('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_scenario_keeps_the_view() {
        let current = "?model=blocking&lesson=3&text=150";
        assert_eq!(
            with_view("?model=selector&clients=polite", current),
            "?model=selector&clients=polite&lesson=3&text=150"
        );
        // A scenario that names a step itself keeps its own.
        assert_eq!(
            with_view("?model=selector&lesson=5", current),
            "?model=selector&lesson=5&text=150"
        );
        assert_eq!(
            with_view("?model=selector", "?model=blocking"),
            "?model=selector"
        );
    }

    #[test]
    fn a_parameter_is_set_replaced_or_removed() {
        assert_eq!(
            with_param("?a=1&lesson=2", "lesson", Some("4")),
            "?a=1&lesson=4"
        );
        assert_eq!(with_param("?a=1&lesson=2", "lesson", None), "?a=1");
        assert_eq!(with_param("", "text", Some("125")), "?text=125");
    }

    #[test]
    fn only_valid_steps_and_sizes_are_read() {
        assert_eq!(lesson_step("?lesson=7", 7), Some(7));
        assert_eq!(lesson_step("?lesson=0", 7), None);
        assert_eq!(lesson_step("?lesson=8", 7), None);
        assert_eq!(lesson_step("?lesson=x", 7), None);
        assert_eq!(text_size("?text=150"), 150);
        assert_eq!(text_size("?text=1000"), 100);
        assert_eq!(text_size("?model=blocking"), 100);
    }
}
