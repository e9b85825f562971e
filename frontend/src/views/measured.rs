//! An element's width as the browser last laid it out, told by a
//! `ResizeObserver` after each layout that changes it, so that drawing code
//! never asks for it in the middle of a frame (reading `clientWidth` after
//! the DOM changed makes the browser lay out the whole page there and then,
//! which is most of a frame's work on a busy page).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Element, ResizeObserver, ResizeObserverEntry};
use yew::prelude::*;

/// The observer's callback, kept alive as long as the observer.
type OnResize = Closure<dyn FnMut(js_sys::Array)>;

/// What [`use_width`] keeps between renders.
#[derive(Default)]
struct Watch {
    observer: Option<(ResizeObserver, OnResize)>,
    /// The element observed now.
    watched: Option<Element>,
}

/// The content width, in CSS pixels, of the element `node` refers to;
/// `None` until the browser has laid it out once. The element may come and
/// go between renders: whichever one `node` holds is the one observed.
#[hook]
pub fn use_width(node: NodeRef) -> Option<f64> {
    let width = use_state_eq(|| None::<f64>);
    let watch: Rc<RefCell<Watch>> = use_mut_ref(Watch::default);
    {
        let width = width.setter();
        let watch = Rc::clone(&watch);
        use_effect(move || {
            let mut watch = watch.borrow_mut();
            let current = node.cast::<Element>();
            if watch.watched != current {
                if watch.observer.is_none() {
                    let on_resize =
                        Closure::<dyn FnMut(js_sys::Array)>::new(move |entries: js_sys::Array| {
                            let last = entries.iter().last();
                            if let Some(entry) =
                                last.and_then(|entry| entry.dyn_into::<ResizeObserverEntry>().ok())
                            {
                                width.set(Some(entry.content_rect().width()));
                            }
                        });
                    if let Ok(observer) = ResizeObserver::new(on_resize.as_ref().unchecked_ref()) {
                        watch.observer = Some((observer, on_resize));
                    }
                }
                if let Some((observer, _)) = &watch.observer {
                    if let Some(old) = &watch.watched {
                        observer.unobserve(old);
                    }
                    if let Some(new) = &current {
                        observer.observe(new);
                    }
                }
                watch.watched = current;
            }
        });
    }
    {
        let watch = Rc::clone(&watch);
        use_effect_with((), move |_| {
            move || {
                if let Some((observer, _)) = watch.borrow_mut().observer.take() {
                    observer.disconnect();
                }
            }
        });
    }
    *width
}
