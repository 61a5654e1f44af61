//! The test suite as one binary (one link step instead of one per file): each tests/*.rs is a
//! module, and tests/util.rs holds what they share. The acceptance tests on the real data are
//! the other binary, tests/real_data.rs.

/// `insta::assert_snapshot!(name, value)` under the file name the snapshot had when each
/// tests/*.rs was a test binary of its own: insta puts the module path before the name, and that
/// path is now `tests::render` (`tests__render__table.snap`); this keeps `render__table.snap`.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(
                format!("{}__{}", module_path!().rsplit("::").next().unwrap(), $name),
                $value,
                stringify!($value)
            )
        })
    };
}

mod util;

mod architecture;
mod background;
mod change_pictures;
mod changed;
mod cli;
mod demos;
mod eval;
mod eval_columns;
mod exact_default;
mod export;
mod first_open;
mod formats;
mod guide;
mod hostile24;
mod hostile26;
mod hostile27;
mod in_place;
mod index;
mod layers;
mod loader;
mod loader_diag;
mod loader_fuzz;
mod maps;
mod maps_cli;
mod maps_qa;
mod maps_session;
mod models;
mod parse;
mod phrases;
mod pickles;
mod projection;
mod protocols;
mod readers;
mod render;
mod reopen;
mod repl;
mod restrict;
mod rows;
mod search;
mod session;
mod space_pairs;
mod spaces;
mod trust;
