//! Other tools' file formats: one reader module per format, each parsing bytes into words and
//! vectors (and an n-gram table where the model has one) without knowing the loader.

pub mod fasttext;
pub mod gensim;
pub mod npy;
pub mod pickle;
