//! grep over text columns: a pattern (literal or regex, optionally case-insensitive) becomes
//! a verifying regex and the trigram query every match must satisfy, and the SQL functions
//! `grep(text, pattern [, flags])` and `grep_regex(text, pattern [, flags])` evaluate it
//! exactly. The lake provider turns the same trigram query into the candidate blocks of each
//! data file from its text index (see `tracelake_lake::textindex`), so `WHERE grep(...)`
//! reads only the rows that can match.
//!
//! The trigram query comes from the regex's syntax tree: literal runs (after case folding as
//! the index folds) give the trigrams they contain; alternations become OR; anything the
//! analysis cannot bound (`.*`, large classes, optional parts) asks nothing of the index. A
//! query that asks nothing (a pattern shorter than three bytes, `\w+`) means a scan.

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};
use tracelake_lake::textindex::{fold, trigrams};
use tracelake_model::{Error, Result};

/// At most this many alternative strings are tracked for one part of a pattern.
const MAX_EXACT: usize = 16;

/// The trigrams a match must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GramQuery {
    /// Nothing is known: every block is a candidate.
    All,
    /// This trigram.
    Gram(u32),
    /// All of these.
    And(Vec<GramQuery>),
    /// One of these.
    Or(Vec<GramQuery>),
}

impl GramQuery {
    fn and(parts: Vec<GramQuery>) -> GramQuery {
        let mut out = Vec::new();
        for p in parts {
            match p {
                GramQuery::All => {}
                GramQuery::And(inner) => out.extend(inner),
                other => out.push(other),
            }
        }
        out.sort_by_key(|q| format!("{q:?}"));
        out.dedup();
        match out.len() {
            0 => GramQuery::All,
            1 => out.pop().unwrap_or(GramQuery::All),
            _ => GramQuery::And(out),
        }
    }

    fn or(parts: Vec<GramQuery>) -> GramQuery {
        let mut out = Vec::new();
        for p in parts {
            match p {
                GramQuery::All => return GramQuery::All,
                GramQuery::Or(inner) => out.extend(inner),
                other => out.push(other),
            }
        }
        out.dedup();
        match out.len() {
            0 => GramQuery::All,
            1 => out.pop().unwrap_or(GramQuery::All),
            _ => GramQuery::Or(out),
        }
    }

    /// Every trigram the query mentions.
    pub fn grams(&self, out: &mut BTreeSet<u32>) {
        match self {
            GramQuery::All => {}
            GramQuery::Gram(g) => {
                out.insert(*g);
            }
            GramQuery::And(p) | GramQuery::Or(p) => p.iter().for_each(|q| q.grams(out)),
        }
    }

    /// The query with each AND keeping only its `keep` cheapest parts, where a trigram costs
    /// its posting size in `sizes` (absent: it occurs nowhere, cost 0, so it is always kept).
    /// Dropping parts of an AND only widens the answer, so the result stays a superset.
    pub fn cheapest(&self, sizes: &std::collections::HashMap<u32, u64>, keep: usize) -> GramQuery {
        fn cost(q: &GramQuery, sizes: &std::collections::HashMap<u32, u64>) -> u64 {
            match q {
                GramQuery::All => u64::MAX,
                GramQuery::Gram(g) => sizes.get(g).copied().unwrap_or(0),
                GramQuery::And(p) => p.iter().map(|q| cost(q, sizes)).min().unwrap_or(u64::MAX),
                GramQuery::Or(p) => p
                    .iter()
                    .map(|q| cost(q, sizes))
                    .fold(0u64, u64::saturating_add),
            }
        }
        match self {
            GramQuery::And(parts) => {
                let mut parts: Vec<GramQuery> =
                    parts.iter().map(|p| p.cheapest(sizes, keep)).collect();
                parts.sort_by_key(|p| cost(p, sizes));
                parts.truncate(keep.max(1));
                GramQuery::and(parts)
            }
            GramQuery::Or(parts) => {
                GramQuery::or(parts.iter().map(|p| p.cheapest(sizes, keep)).collect())
            }
            other => other.clone(),
        }
    }

    /// Whether the query asks nothing of the index.
    pub fn is_all(&self) -> bool {
        matches!(self, GramQuery::All)
    }

    /// The sorted candidate blocks out of `blocks`, given each trigram's blocks (a trigram
    /// missing from `postings` occurs nowhere).
    pub fn candidates(
        &self,
        blocks: u32,
        postings: &std::collections::HashMap<u32, Vec<u32>>,
    ) -> Vec<u32> {
        match self {
            GramQuery::All => (0..blocks).collect(),
            GramQuery::Gram(g) => postings.get(g).cloned().unwrap_or_default(),
            GramQuery::And(parts) => {
                let mut acc: Option<Vec<u32>> = None;
                for p in parts {
                    let next = p.candidates(blocks, postings);
                    acc = Some(match acc {
                        None => next,
                        Some(a) => a
                            .into_iter()
                            .filter(|b| next.binary_search(b).is_ok())
                            .collect(),
                    });
                    if acc.as_ref().is_some_and(Vec::is_empty) {
                        break;
                    }
                }
                acc.unwrap_or_else(|| (0..blocks).collect())
            }
            GramQuery::Or(parts) => {
                let mut set = BTreeSet::new();
                for p in parts {
                    set.extend(p.candidates(blocks, postings));
                }
                set.into_iter().collect()
            }
        }
    }
}

/// A compiled search pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The regex that decides a match.
    pub regex: Regex,
    /// What the index is asked.
    pub query: GramQuery,
}

impl Pattern {
    /// Compiles `pattern`: a literal unless `is_regex`, case-insensitive (Unicode simple case
    /// folding) if `ignore_case`.
    pub fn new(pattern: &str, is_regex: bool, ignore_case: bool) -> Result<Self> {
        let body = if is_regex {
            pattern.to_string()
        } else {
            regex::escape(pattern)
        };
        let source = if ignore_case {
            format!("(?i:{body})")
        } else {
            body
        };
        let regex = regex::RegexBuilder::new(&source)
            .size_limit(64 << 20)
            .build()
            .map_err(|e| Error::invalid_input(format!("pattern {pattern:?}: {e}")))?;
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(&source)
            .map_err(|e| Error::invalid_input(format!("pattern {pattern:?}: {e}")))?;
        let query = analyze(&hir).into_query();
        Ok(Self { regex, query })
    }
}

/// What is known about the strings a part of a pattern matches.
struct Info {
    /// The part matches exactly one of these (folded) strings.
    exact: Option<BTreeSet<Vec<u8>>>,
    /// Trigrams every match of the part contains.
    query: GramQuery,
}

impl Info {
    fn exact(strings: BTreeSet<Vec<u8>>) -> Self {
        Info {
            exact: Some(strings),
            query: GramQuery::All,
        }
    }

    fn unknown(query: GramQuery) -> Self {
        Info { exact: None, query }
    }

    fn into_query(self) -> GramQuery {
        match self.exact {
            Some(e) => GramQuery::and(vec![self.query, exact_query(&e)]),
            None => self.query,
        }
    }
}

fn exact_query(strings: &BTreeSet<Vec<u8>>) -> GramQuery {
    GramQuery::or(
        strings
            .iter()
            .map(|s| GramQuery::and(trigrams(s).map(GramQuery::Gram).collect()))
            .collect(),
    )
}

fn fold_bytes(bytes: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(s) => fold(s),
        Err(_) => bytes.to_ascii_lowercase(),
    }
}

fn analyze(hir: &Hir) -> Info {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::exact(BTreeSet::from([Vec::new()])),
        HirKind::Literal(l) => Info::exact(BTreeSet::from([fold_bytes(&l.0)])),
        HirKind::Class(Class::Unicode(c)) => {
            let size: u64 = c
                .ranges()
                .iter()
                .map(|r| u64::from(r.end()) - u64::from(r.start()) + 1)
                .sum();
            if size > MAX_EXACT as u64 {
                return Info::unknown(GramQuery::All);
            }
            let set = c
                .ranges()
                .iter()
                .flat_map(|r| {
                    (u32::from(r.start())..=u32::from(r.end())).filter_map(char::from_u32)
                })
                .map(|ch| fold(ch.encode_utf8(&mut [0; 4])))
                .collect();
            Info::exact(set)
        }
        HirKind::Class(Class::Bytes(c)) => {
            let size: usize = c
                .ranges()
                .iter()
                .map(|r| usize::from(r.end()) - usize::from(r.start()) + 1)
                .sum();
            if size > MAX_EXACT {
                return Info::unknown(GramQuery::All);
            }
            let set = c
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .map(|b| vec![b.to_ascii_lowercase()])
                .collect();
            Info::exact(set)
        }
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return Info::unknown(GramQuery::All);
            }
            let sub = analyze(&r.sub);
            if r.max == Some(1) {
                sub
            } else {
                Info::unknown(sub.into_query())
            }
        }
        HirKind::Capture(c) => analyze(&c.sub),
        HirKind::Concat(parts) => {
            let mut query = Vec::new();
            let mut exact: BTreeSet<Vec<u8>> = BTreeSet::from([Vec::new()]);
            let mut whole = true;
            for part in parts {
                let info = analyze(part);
                match info.exact {
                    Some(next) if exact.len() * next.len() <= MAX_EXACT => {
                        exact = exact
                            .iter()
                            .flat_map(|a| {
                                next.iter().map(move |b| {
                                    let mut s = a.clone();
                                    s.extend_from_slice(b);
                                    s
                                })
                            })
                            .collect();
                    }
                    Some(next) => {
                        query.push(exact_query(&exact));
                        exact = next;
                        whole = false;
                    }
                    None => {
                        query.push(exact_query(&exact));
                        query.push(info.query);
                        exact = BTreeSet::from([Vec::new()]);
                        whole = false;
                    }
                }
            }
            if whole {
                Info::exact(exact)
            } else {
                query.push(exact_query(&exact));
                Info::unknown(GramQuery::and(query))
            }
        }
        HirKind::Alternation(alts) => {
            let infos: Vec<Info> = alts.iter().map(analyze).collect();
            let total: usize = infos
                .iter()
                .map(|i| i.exact.as_ref().map_or(usize::MAX / 2, BTreeSet::len))
                .sum();
            if total <= MAX_EXACT {
                let mut set = BTreeSet::new();
                for i in infos {
                    set.extend(i.exact.unwrap_or_default());
                }
                Info::exact(set)
            } else {
                Info::unknown(GramQuery::or(
                    infos.into_iter().map(Info::into_query).collect(),
                ))
            }
        }
    }
}

/// The SQL functions `grep(text, pattern [, flags])` (literal) and
/// `grep_regex(text, pattern [, flags])`; flags `i` = case-insensitive.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GrepUdf {
    name: &'static str,
    is_regex: bool,
    signature: Signature,
}

impl GrepUdf {
    /// The literal variant, `grep`.
    pub fn literal() -> ScalarUDF {
        ScalarUDF::from(Self::new("grep", false))
    }

    /// The regex variant, `grep_regex`.
    pub fn regex() -> ScalarUDF {
        ScalarUDF::from(Self::new("grep_regex", true))
    }

    fn new(name: &'static str, is_regex: bool) -> Self {
        Self {
            name,
            is_regex,
            signature: Signature::one_of(
                vec![TypeSignature::String(2), TypeSignature::String(3)],
                Volatility::Immutable,
            ),
        }
    }
}

fn scalar_text(v: &ColumnarValue) -> Option<Option<String>> {
    match v {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s),
        ) => Some(s.clone()),
        _ => None,
    }
}

fn literal_text(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s),
        Expr::Cast(c) => literal_text(&c.expr),
        _ => None,
    }
}

/// Parses flags: `i` (case-insensitive); anything else is an error.
fn ignore_case(flags: Option<&str>) -> std::result::Result<bool, String> {
    let mut ci = false;
    for c in flags.unwrap_or("").chars() {
        match c {
            'i' => ci = true,
            other => return Err(format!("unknown grep flag {other:?} (known: i)")),
        }
    }
    Ok(ci)
}

impl ScalarUDFImpl for GrepUdf {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(Some(pattern)) = args.args.get(1).and_then(scalar_text) else {
            return plan_err!("{}: the pattern must be a constant string", self.name);
        };
        let flags = match args.args.get(2) {
            None => None,
            Some(v) => match scalar_text(v) {
                Some(f) => f,
                None => return plan_err!("{}: the flags must be a constant string", self.name),
            },
        };
        let ci = match ignore_case(flags.as_deref()) {
            Ok(ci) => ci,
            Err(e) => return plan_err!("{}: {e}", self.name),
        };
        let pattern = match Pattern::new(&pattern, self.is_regex, ci) {
            Ok(p) => p,
            Err(e) => return plan_err!("{}: {}", self.name, e.report()),
        };
        let Some(text) = args.args.first() else {
            return exec_err!("{}: no text argument", self.name);
        };
        let array: ArrayRef = match text {
            ColumnarValue::Array(a) => a.clone(),
            ColumnarValue::Scalar(s) => s.to_array_of_size(1)?,
        };
        let matches = |s: Option<&str>| Some(s.is_some_and(|s| pattern.regex.is_match(s)));
        let out: BooleanArray = match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().iter().map(matches).collect(),
            DataType::LargeUtf8 => array.as_string::<i64>().iter().map(matches).collect(),
            DataType::Utf8View => array.as_string_view().iter().map(matches).collect(),
            DataType::Null => (0..array.len()).map(|_| Some(false)).collect(),
            other => return exec_err!("{}: expected text, found {other}", self.name),
        };
        Ok(match text {
            ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(out)),
            ColumnarValue::Scalar(_) => {
                ColumnarValue::Scalar(ScalarValue::Boolean(Some(out.value(0))))
            }
        })
    }
}

/// The trigram query of a filter built from `grep`/`grep_regex` calls (combined with AND and
/// OR), or `None` when the filter says nothing the index can use.
pub fn filter_query(expr: &Expr) -> Option<GramQuery> {
    match expr {
        Expr::ScalarFunction(f) if matches!(f.func.name(), "grep" | "grep_regex") => {
            let pattern = literal_text(f.args.get(1)?)?;
            let flags = match f.args.get(2) {
                Some(e) => Some(literal_text(e)?),
                None => None,
            };
            let ci = ignore_case(flags).ok()?;
            let p = Pattern::new(pattern, f.func.name() == "grep_regex", ci).ok()?;
            Some(p.query)
        }
        Expr::BinaryExpr(b) if b.op == datafusion::logical_expr::Operator::And => {
            match (filter_query(&b.left), filter_query(&b.right)) {
                (Some(l), Some(r)) => Some(GramQuery::and(vec![l, r])),
                (Some(q), None) | (None, Some(q)) => Some(q),
                (None, None) => None,
            }
        }
        Expr::BinaryExpr(b) if b.op == datafusion::logical_expr::Operator::Or => {
            Some(GramQuery::or(vec![
                filter_query(&b.left)?,
                filter_query(&b.right)?,
            ]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(s: &str) -> GramQuery {
        GramQuery::and(trigrams(&fold(s)).map(GramQuery::Gram).collect())
    }

    #[test]
    fn literals_ask_for_their_trigrams() {
        let p = Pattern::new("Permission denied", false, false).unwrap();
        assert_eq!(p.query, grams("permission denied"));
        // Case-insensitive: the same folded trigrams.
        let p = Pattern::new("PERMISSION denied", false, true).unwrap();
        assert_eq!(p.query, grams("permission denied"));
        // Too short for a trigram: a scan.
        assert!(Pattern::new("ab", false, false).unwrap().query.is_all());
        // One CJK character is three bytes: one trigram.
        assert_eq!(Pattern::new("错", false, true).unwrap().query, grams("错"));
    }

    #[test]
    fn regexes_ask_for_what_every_match_contains() {
        let p = Pattern::new(r"timeout after \d+ ms", true, false).unwrap();
        let mut g = BTreeSet::new();
        p.query.grams(&mut g);
        let want: BTreeSet<u32> = trigrams(b"timeout after ")
            .chain(trigrams(b" ms"))
            .collect();
        assert_eq!(g, want);
        let p = Pattern::new("(connection refused|broken pipe)", true, false).unwrap();
        assert!(matches!(p.query, GramQuery::Or(_)), "{:?}", p.query);
        assert!(Pattern::new(r"\w+", true, false).unwrap().query.is_all());
        assert!(Pattern::new("a.*b", true, false).unwrap().query.is_all());
        let p = Pattern::new("err(or)?s", true, false).unwrap();
        assert_eq!(p.query, grams("err"));
    }

    #[test]
    fn only_the_rarest_trigrams_of_an_and_are_read() {
        let q = grams("abcdef");
        let mut all = BTreeSet::new();
        q.grams(&mut all);
        let sizes: std::collections::HashMap<u32, u64> = all
            .iter()
            .enumerate()
            .map(|(i, g)| (*g, 10 * (i as u64 + 1)))
            .collect();
        let mut kept = BTreeSet::new();
        q.cheapest(&sizes, 2).grams(&mut kept);
        assert_eq!(kept, all.iter().take(2).copied().collect());
        // A trigram absent from the index is the cheapest of all: it empties the answer.
        let mut sizes = sizes;
        let absent = *all.iter().last().unwrap();
        sizes.remove(&absent);
        let q2 = q.cheapest(&sizes, 2);
        assert!(
            q2.candidates(10, &std::collections::HashMap::new())
                .is_empty()
        );
        let mut kept = BTreeSet::new();
        q2.grams(&mut kept);
        assert!(kept.contains(&absent));
    }

    #[test]
    fn the_udf_is_exact() {
        let p = Pattern::new("straße", false, true).unwrap();
        assert!(p.regex.is_match("STRASSE straße STRAẞE"));
        assert!(
            !Pattern::new("straße", false, true)
                .unwrap()
                .regex
                .is_match("strasse")
        );
        assert!(
            Pattern::new("secret", false, true)
                .unwrap()
                .regex
                .is_match("ſecret")
        );
        assert!(
            Pattern::new("[", false, false)
                .unwrap()
                .regex
                .is_match("a[b")
        );
        assert!(Pattern::new("(", true, false).is_err());
    }
}
