//! vecsh: explore word embeddings from a terminal.
//!
//! Data flows one way: line editor (`repl`) → `parse` → `eval` → `index`/`search` → `render`.
//! Only the front-end (`cli`, `repl`, `render`) writes to the terminal; the core returns values.
//! `settings` holds what the command line resolved to, shared by `cli` and `repl`.

pub mod ast;
pub mod cli;
pub mod commands;
pub mod embedded;
pub mod eval;
pub mod fasttext;
pub mod gensim;
pub mod index;
pub mod ivf;
pub mod lmdb_check;
pub mod loader;
pub mod npy;
pub mod parse;
pub mod pickle;
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
