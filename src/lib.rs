//! vecsh: explore word embeddings from a terminal.
//!
//! Data flows one way: front-end (`cli`, or the line editor `repl`) → statement runner
//! (`runner`, routing `:` commands by the table in `commands`) → `parse` → `eval` →
//! `index`/`search`, and back through `render`. Only the front-ends and the runner write to the
//! terminal; the core returns values. `settings` holds what the command line resolved to.

pub mod ast;
pub mod cli;
pub mod commands;
pub mod embedded;
pub mod eval;
pub mod index;
pub mod ivf;
pub mod lmdb_file;
pub mod loader;
pub mod parse;
pub mod progress;
pub mod projection;
pub mod protocols;
pub mod render;
pub mod repl;
pub mod runner;
pub mod search;
pub mod settings;
pub mod svgfiles;
pub mod text;
