//! Benchmark fixture (issue #6): a component whose only export does nothing, so that the
//! benchmark measures the cost of a typed call into a warm instance and nothing else.

wit_bindgen::generate!({ path: "wit", world: "noop" });

struct Noop;

impl Guest for Noop {
    fn noop() {}
}

export!(Noop);
