//! What evaluation yields and how it is set up: the `Value` of a line (neighbours, scalars, maps,
//! settings), its parts, and the evaluator's `Settings`.

use serde::Serialize;

/// How neighbours are searched: exactly unless approximate answers are asked for (`--approx`,
/// `:exact off`). There is no mode that chooses by itself: an answer never changes because an
/// index gained lists or a timing came out differently (issue 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    Exact,
    Approx,
}

/// 3CosAdd (cosine of the combined vector) or 3CosMul (Levy & Goldberg's multiplicative form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Add,
    Mul,
}

/// Below this many rows a restricted search is exact even under `--approx`: the exact scan of
/// the first N rows stops at row N, while the forest reads its candidates one by one.
pub const APPROX_MIN_WORDS: usize = 2_000_000;

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub k: usize,
    pub mode: SearchMode,
    /// Show the expression's own words among the neighbours.
    pub include_inputs: bool,
    pub method: Method,
    /// What approximate search reads (the lists or the forest) and how far it looks.
    pub approx: crate::index::ApproxParams,
    /// Search only the first N words (file order, i.e. frequency order for GloVe and word2vec),
    /// like gensim's `restrict_vocab=N`; `None`: every word. A query-time cut: the index keeps
    /// every word (`--limit` is the index-level one).
    pub restrict: Option<usize>,
    /// Unknown words get vectors from their character n-grams when the model has them
    /// (fastText); `vecsh eval` turns this off, as gensim's evaluations skip unknown words.
    pub subwords: bool,
    /// On a model, special and byte tokens (`ModelMeta::hidden`) may be neighbours too
    /// (`--all-tokens`, `:alltokens on`); by default they are left out of answers.
    pub all_tokens: bool,
    /// A session builds by itself, behind its prompt, what makes exact search fast on a file
    /// where it pays (`--no-background`, `:background off`: not).
    #[serde(skip)]
    pub background: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            k: 10,
            mode: SearchMode::Exact,
            include_inputs: false,
            method: Method::Add,
            approx: crate::index::ApproxParams::default(),
            restrict: None,
            subwords: true,
            all_tokens: false,
            background: true,
        }
    }
}

/// Which search produced an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchUsed {
    Exact,
    Approx,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbour {
    pub word: String,
    pub score: f32,
    /// The item's label, when the file labels its items (the MNIST pickle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<i64>,
}

/// What a point on a map stands for; the renderer colours points by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A word typed in the call, or a word of an expression in it.
    Input,
    /// An expression or a named result: the point is its normalised vector.
    Expression,
    /// A neighbour found for `k=N`.
    Result,
}

/// One labelled point of a map, at its projected coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    pub label: String,
    pub role: Role,
    pub x: f64,
    pub y: f64,
    /// The space the point comes from, on a picture across spaces (its label ends with
    /// ` (SPACE)`); `None` on a map of one space.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
}

/// Scores of `odd(...)` closer than this are a tie: no odd one out.
pub const ODD_TIE: f32 = 1e-6;

/// Most neighbours one expression may bring onto a map (`k=N`); more would be a cloud of
/// labels no terminal can show.
pub const MAP_MAX_K: usize = 50;

/// Neighbours each argument of a picture across spaces brings from its own space when no
/// `k=N` is given (HistWords' figures show a handful).
pub const CHANGE_K: usize = 4;

/// The result of one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Value {
    Neighbours {
        query: String,
        method: Method,
        search: SearchUsed,
        /// True for an approximate answer (in JSON only then); `searched` says what it read.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        approximate: bool,
        /// What an approximate answer searched: "16 of 141 lists", "a forest of 30 trees".
        #[serde(skip_serializing_if = "Option::is_none")]
        searched: Option<String>,
        neighbours: Vec<Neighbour>,
        /// Set when the requested search could not be used (e.g. no forest yet).
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// Unknown words that got vectors from their character n-grams.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        subwords: Vec<SubwordWord>,
    },
    Scalar {
        query: String,
        value: f64,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        subwords: Vec<SubwordWord>,
    },
    /// `odd(...)`: the word that does not match, with every word's cosine to their mean.
    /// `None` (JSON `null`) when none stands out: two terms (each is as far from their mean
    /// as the other) or the lowest scores within `ODD_TIE` of each other.
    Odd {
        query: String,
        word: Option<String>,
        scores: Vec<Neighbour>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        subwords: Vec<SubwordWord>,
    },
    /// `plot(...)` and `arrows(...)`: points projected to 2-D (see `projection`), arrows as
    /// (from, to) indices into `points`, and the share of variance each axis explains.
    Map {
        query: String,
        points: Vec<MapPoint>,
        arrows: Vec<[usize; 2]>,
        variance: [f64; 2],
        /// A picture across spaces: the space whose coordinates every point is drawn in (the
        /// last argument's; the others' vectors rotated onto it by `:align`).
        #[serde(skip_serializing_if = "Option::is_none")]
        coordinates: Option<String>,
        /// `:svg FILE EXPR`: the file the front-end writes this map to as SVG.
        #[serde(skip_serializing_if = "Option::is_none")]
        svg: Option<String>,
    },
    Bound {
        name: String,
        query: String,
        /// Said when the name hides a vocabulary word (`let king = queen`).
        #[serde(skip_serializing_if = "Option::is_none")]
        warning: Option<String>,
    },
    Setting {
        name: String,
        /// A number for `k` and `restrict N`, a word otherwise (`on`, `off`, `add`).
        value: SettingValue,
        /// A word on how the value was taken (`:exact auto` is taken as `on`).
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Ast {
        text: String,
    },
    /// `:vec WORD`: a row as the file has it (the unit row times the row's norm).
    Vector {
        word: String,
        norm: f32,
        dims: usize,
        values: Vec<f32>,
        /// Only for an unknown word composed from its character n-grams or through a model's
        /// tokenizer: `true`.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        oov: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        label: Option<i64>,
        /// Through a model's tokenizer: the tokens pooled (shown forms).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tokens: Vec<String>,
    },
    /// `:show ITEM`: a pixel item (a square image, row by row) and its neighbours'.
    Picture {
        item: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        label: Option<i64>,
        width: usize,
        height: usize,
        values: Vec<f32>,
        neighbours: Vec<PictureNeighbour>,
    },
    Vars {
        vars: Vec<Var>,
    },
    /// `:open FILE [as NAME]` (and each `--also`): the space added.
    SpaceOpened {
        name: String,
        words: usize,
        dims: usize,
        /// The file was open already, as this space: its store is shared, not opened again.
        #[serde(skip_serializing_if = "Option::is_none")]
        reused: Option<String>,
        active: bool,
    },
    /// `:use` alone: the open spaces; `:use NAME`: the one now active (a list of one).
    Spaces {
        spaces: Vec<SpaceRow>,
    },
    /// `:align A B [N]`: A rotated onto B over N shared words.
    Aligned {
        a: String,
        b: String,
        /// Shared words the rotation was fitted on.
        words: usize,
        dims: usize,
        /// Mean cosine of the words' two vectors before and after the rotation: the fit.
        cosine_before: f64,
        cosine_after: f64,
    },
    /// `:compare EXPR`, `compare(EXPR)`: EXPR's neighbours in every open space side by side.
    Compare(Box<Comparison>),
    /// `:changed [A B] [N] [k=K] [top=T] [by=local|global]`: the words whose neighbourhoods
    /// differ most between two spaces.
    Changed(Box<Changes>),
    Nothing,
}

/// `:changed`: the words of two spaces ranked by how much their neighbourhoods differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    /// The first space (whose file order is the words' frequency order) and the second.
    pub a: String,
    pub b: String,
    pub words_a: usize,
    pub words_b: usize,
    /// Their dimensions: the local measure needs none in common, the global one the same.
    pub dims_a: usize,
    pub dims_b: usize,
    /// Words both vocabularies hold (with a non-zero vector in each): the neighbours are
    /// drawn from these.
    pub shared: usize,
    /// How many words were asked (N) and measured (the N most frequent shared ones).
    pub asked: usize,
    pub words: usize,
    /// Neighbours per word in each space (fewer than asked when few words are shared).
    pub k: usize,
    /// Whether `:align` rotated one space onto the other: then each row has its global measure.
    pub aligned: bool,
    /// The measure the rows are ranked by: `local` or `global`.
    pub by: &'static str,
    /// The first `top=T` rows of the ranking, most changed first.
    pub rows: Vec<ChangedRow>,
    /// Said about the answer (fewer neighbours than asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One word of `:changed`'s ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedRow {
    pub word: String,
    /// Its line in the first space's file (1 = the most frequent).
    pub frequency_rank: usize,
    /// Hamilton et al.'s (2016) local neighbourhood measure: the cosine distance between the
    /// word's cosines to the union of its k neighbours in each space, taken in each space.
    pub local: f64,
    /// The cosine distance between its vector in b and its a-vector rotated into b (aligned
    /// spaces only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<f64>,
    /// Its k nearest shared words in each space, nearest first.
    pub neighbours_a: Vec<String>,
    pub neighbours_b: Vec<String>,
}

/// An open space as `:use` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpaceRow {
    pub name: String,
    /// The file as it was given, escaped.
    pub file: String,
    pub words: usize,
    pub dims: usize,
    pub active: bool,
}

/// The neighbours of one expression in every open space, and how much they agree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub query: String,
    /// How many neighbours each space was asked for.
    pub k: usize,
    /// The persistence of rank-biased overlap (Webber et al. 2010): `rbo` weighs rank d by
    /// `p^(d-1)`.
    pub p: f64,
    pub spaces: Vec<CompareColumn>,
    /// One entry per pair of spaces, in the order (0,1), (0,2), …, (1,2), …
    pub pairs: Vec<ComparePair>,
}

/// One space's column of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareColumn {
    pub space: String,
    pub neighbours: Vec<CompareHit>,
    /// Why this space has no list: the expression cannot be evaluated in it (an unknown word).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// One neighbour in one space's list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareHit {
    pub word: String,
    pub score: f32,
    /// The other spaces whose lists hold this word too.
    pub shared_with: Vec<String>,
    /// The other spaces whose vocabularies do not hold this word at all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_from: Vec<String>,
}

/// How two spaces' lists agree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparePair {
    pub a: String,
    pub b: String,
    /// Words in both vocabularies, and each vocabulary's size: a pair that barely shares
    /// words says so here rather than with an empty table.
    pub shared_vocabulary: usize,
    pub words_a: usize,
    pub words_b: usize,
    /// Words in both lists.
    pub common: usize,
    /// |A ∩ B| / |A ∪ B| of the two lists' words; `None` when a list is missing or empty.
    pub jaccard: Option<f64>,
    /// Extrapolated rank-biased overlap of the two lists, truncated to the shorter one;
    /// `None` when a list is missing or empty.
    pub rbo: Option<f64>,
    /// Why there is no Jaccard and RBO (a list missing or empty: their agreement is
    /// undefined, never 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_agreement: Option<String>,
}

/// A setting's value: a number (JSON number) or a word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SettingValue {
    Number(usize),
    Word(String),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Number(n) => write!(f, "{n}"),
            SettingValue::Word(w) => f.write_str(w),
        }
    }
}

impl From<usize> for SettingValue {
    fn from(n: usize) -> Self {
        SettingValue::Number(n)
    }
}

impl From<&str> for SettingValue {
    fn from(w: &str) -> Self {
        SettingValue::Word(w.to_string())
    }
}

impl PartialEq<&str> for SettingValue {
    fn eq(&self, other: &&str) -> bool {
        match self {
            SettingValue::Number(n) => other.parse() == Ok(*n),
            SettingValue::Word(w) => w == other,
        }
    }
}

/// A neighbour of a `:show`n item, with its own picture's values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PictureNeighbour {
    pub word: String,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<i64>,
    pub values: Vec<f32>,
}

/// A named result of `:vars`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Var {
    pub name: String,
    /// The expression it was bound to, as typed.
    pub query: String,
    /// The space its vector belongs to, when several are open (it answers there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
}

/// A word not in the vocabulary that was given a vector another way: from its character
/// n-grams (fastText models), shown as `word (subwords)`; or through a model's tokenizer
/// (safetensors models), shown as `"new york" (2 tokens: new·york)`. In JSON with
/// `"oov": true`, and the tokens for the second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubwordWord {
    pub word: String,
    /// Always true: the word is out of the vocabulary.
    pub oov: bool,
    /// The did-you-mean hint the word would have had as an unknown word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Through a model's tokenizer: the shown forms of the tokens pooled, in order (one for a
    /// raw token or an uncased model's normalised form).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<String>,
}

impl SubwordWord {
    /// How the word got its vector, as the text output marks it: `(subwords)`,
    /// `(1 token: king)`, `(2 tokens: new·york)`.
    /// A long phrase's tokens are shortened (`token_list`).
    pub fn mark(&self) -> String {
        match self.tokens.len() {
            0 => "(subwords)".to_string(),
            1 => format!("(1 token: {})", token_list(&self.tokens)),
            n => format!("({n} tokens: {})", token_list(&self.tokens)),
        }
    }

    /// The word as the text output names it: quoted when it holds a blank (`"new york"`), a
    /// long one cut after `MARK_WORD_CHARS` characters (`"the king of …"`): the JSON keeps it
    /// whole.
    pub fn shown_word(&self) -> String {
        let (word, cut) = cut_phrase(&self.word);
        let ellipsis = if cut { "…" } else { "" };
        if self.word.contains(char::is_whitespace) || self.word.is_empty() {
            format!("{}{ellipsis}\"", format!("{word:?}").trim_end_matches('"'))
        } else {
            format!("{word}{ellipsis}")
        }
    }
}

/// A phrase's first `MARK_WORD_CHARS` - 1 characters when it is longer (and true), else
/// the phrase: what a mark shows of it.
pub fn cut_phrase(word: &str) -> (std::borrow::Cow<'_, str>, bool) {
    if word.chars().count() > MARK_WORD_CHARS {
        (word.chars().take(MARK_WORD_CHARS - 1).collect(), true)
    } else {
        (word.into(), false)
    }
}

/// Characters of a phrase the text mark shows (`SubwordWord::shown_word`).
pub const MARK_WORD_CHARS: usize = 48;

/// Tokens a mark lists in full; a longer list shows its first `MARK_HEAD` and last
/// `MARK_TAIL` around `…` (its count is said beside it).
const MARK_TOKENS: usize = 12;
const MARK_HEAD: usize = 8;
const MARK_TAIL: usize = 2;

/// A phrase's tokens as its mark lists them, `·` between, each visible (`visible_token`): all
/// of them up to `MARK_TOKENS`, else the first and last few around `…` (a 512-token phrase
/// listed 3 KB of tokens). The JSON lists them all.
pub fn token_list(tokens: &[String]) -> String {
    let shown = |ts: &[String]| -> Vec<String> { ts.iter().map(|t| visible_token(t)).collect() };
    if tokens.len() <= MARK_TOKENS {
        return shown(tokens).join("·");
    }
    let mut parts = shown(&tokens[..MARK_HEAD]);
    parts.push("…".to_string());
    parts.extend(shown(&tokens[tokens.len() - MARK_TAIL..]));
    parts.join("·")
}

/// A token's shown form as a phrase's mark lists it: quoted when it is blank or holds a blank
/// (a lone word-start token `▁` shows as a space), so that every token of the mark is seen.
pub fn visible_token(token: &str) -> String {
    if token.is_empty() || token.contains(char::is_whitespace) {
        format!("{token:?}")
    } else {
        token.to_string()
    }
}
