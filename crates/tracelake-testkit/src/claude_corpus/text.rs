//! Text synthesis: vocabularies of code-like words, file paths, error messages, prose and a
//! little Unicode (CJK, Arabic, Cyrillic, emoji), and generators for the kinds of text a coding
//! agent's transcript holds (prompts, answers, source files, build/test/log output).
//!
//! The aim is data that compresses like real logs: skewed word choice and repeated structure
//! (so zstd finds plenty to share) but enough variety that it is neither trivially repetitive
//! nor random bytes.

use rand::{Rng, RngCore};

use super::ids;

/// Programming language of a project or a file; decides code and tool-output flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Rust,
    Python,
    TypeScript,
    Go,
}

impl Lang {
    pub(crate) fn ext(self) -> &'static str {
        match self {
            Lang::Rust => "rs",
            Lang::Python => "py",
            Lang::TypeScript => "ts",
            Lang::Go => "go",
        }
    }
}

pub(crate) const IDENT: &[&str] = &[
    "session",
    "span",
    "token",
    "cache",
    "buffer",
    "request",
    "response",
    "config",
    "parser",
    "reader",
    "writer",
    "batch",
    "record",
    "schema",
    "table",
    "index",
    "query",
    "plan",
    "row",
    "column",
    "field",
    "value",
    "key",
    "map",
    "list",
    "item",
    "node",
    "tree",
    "edge",
    "graph",
    "event",
    "handler",
    "client",
    "server",
    "stream",
    "chunk",
    "frame",
    "header",
    "body",
    "payload",
    "message",
    "queue",
    "worker",
    "task",
    "job",
    "pool",
    "lock",
    "state",
    "store",
    "entry",
    "file",
    "path",
    "dir",
    "blob",
    "page",
    "offset",
    "len",
    "size",
    "count",
    "total",
    "limit",
    "retry",
    "timeout",
    "deadline",
    "error",
    "result",
    "status",
    "code",
    "kind",
    "name",
    "id",
    "hash",
    "digest",
    "auth",
    "role",
    "scope",
    "policy",
    "rule",
    "filter",
    "order",
    "group",
    "window",
    "metric",
    "counter",
    "trace",
    "level",
    "ctx",
    "env",
    "opts",
    "args",
    "params",
    "input",
    "output",
    "source",
    "sink",
    "target",
    "model",
    "price",
    "cost",
    "usage",
    "budget",
    "tenant",
    "project",
    "repo",
    "branch",
    "commit",
    "diff",
    "patch",
    "hunk",
    "line",
    "range",
    "cursor",
    "snapshot",
    "manifest",
    "catalog",
    "partition",
    "segment",
    "shard",
    "replica",
    "peer",
    "conn",
    "socket",
    "addr",
    "port",
    "host",
    "url",
    "route",
    "template",
    "view",
    "widget",
    "form",
    "layout",
    "theme",
    "asset",
    "bundle",
    "module",
    "plugin",
    "hook",
    "signal",
    "channel",
    "sender",
    "receiver",
    "future",
    "callback",
    "iter",
    "stack",
    "arena",
    "slice",
    "codec",
    "encoder",
    "decoder",
    "format",
    "wal",
    "checkpoint",
    "compaction",
    "txn",
    "lease",
    "ttl",
    "epoch",
    "clock",
    "timer",
    "backoff",
    "user",
    "account",
    "invoice",
    "order",
    "cart",
    "product",
    "price",
    "report",
    "export",
    "import",
    "migration",
    "fixture",
    "mock",
    "spec",
];

pub(crate) const VERB: &[&str] = &[
    "get",
    "set",
    "load",
    "save",
    "parse",
    "build",
    "read",
    "write",
    "open",
    "close",
    "init",
    "reset",
    "update",
    "insert",
    "delete",
    "remove",
    "find",
    "lookup",
    "resolve",
    "apply",
    "merge",
    "flush",
    "commit",
    "encode",
    "decode",
    "validate",
    "check",
    "compute",
    "render",
    "handle",
    "process",
    "dispatch",
    "emit",
    "collect",
    "spawn",
    "fetch",
    "send",
    "poll",
    "retry",
    "normalize",
    "convert",
    "serialize",
    "split",
    "filter",
    "reduce",
    "sort",
    "scan",
    "register",
    "publish",
    "format",
    "sanitize",
    "migrate",
    "compact",
    "sync",
    "refresh",
    "evict",
    "release",
    "create",
    "list",
    "drain",
    "append",
    "extract",
    "prepare",
    "finish",
];

const TYPES_RUST: &[&str] = &[
    "String",
    "u64",
    "usize",
    "i64",
    "bool",
    "Vec<u8>",
    "Option<String>",
    "&str",
    "Bytes",
    "HashMap<String, u64>",
    "Arc<Mutex<State>>",
    "PathBuf",
    "Duration",
    "f64",
];
const TYPES_PY: &[&str] = &[
    "str",
    "int",
    "float",
    "bool",
    "list[str]",
    "dict[str, Any]",
    "Path",
    "bytes",
];
const TYPES_TS: &[&str] = &[
    "string",
    "number",
    "boolean",
    "string[]",
    "Record<string, unknown>",
    "Promise<void>",
    "Date",
];
const TYPES_GO: &[&str] = &[
    "string",
    "int",
    "int64",
    "bool",
    "[]byte",
    "error",
    "time.Duration",
    "map[string]int",
    "*sync.Mutex",
];

pub(crate) const ADJ: &[&str] = &[
    "empty",
    "stale",
    "missing",
    "invalid",
    "duplicate",
    "nested",
    "optional",
    "async",
    "cached",
    "unused",
    "flaky",
    "slow",
    "large",
    "partial",
    "pending",
    "broken",
    "new",
    "old",
    "default",
    "public",
    "private",
    "shared",
    "local",
    "remote",
    "temporary",
    "final",
];

pub(crate) const NOUN: &[&str] = &[
    "test",
    "function",
    "module",
    "handler",
    "config",
    "endpoint",
    "query",
    "migration",
    "schema",
    "parser",
    "cache",
    "lock",
    "retry logic",
    "error path",
    "build",
    "dependency",
    "type",
    "struct",
    "trait",
    "interface",
    "component",
    "hook",
    "fixture",
    "benchmark",
    "import",
    "loop",
    "branch",
    "callback",
    "serializer",
    "validator",
    "timeout",
    "index",
];

const WORDS: &[&str] = &[
    "the", "a", "to", "of", "and", "in", "is", "it", "that", "this", "for", "on", "with", "as",
    "be", "we", "not", "are", "when", "so", "if", "but", "now", "then", "should", "can", "will",
    "only", "also", "still", "here", "there", "because", "instead", "before", "after", "each",
    "every", "value", "field", "call", "check", "return", "error", "case", "file", "line",
    "change", "update", "fix", "test", "run", "build", "path", "type", "code", "data", "time",
    "first", "last", "next", "same", "other", "new", "old", "right", "wrong", "small", "large",
    "empty", "missing", "extra", "one", "two", "three", "all", "none", "some", "more", "less",
    "works", "fails", "passes", "breaks", "looks", "seems", "means", "uses", "needs", "keeps",
];

const USER_TEMPLATES: &[&str] = &[
    "Fix the failing test in {path}",
    "Why does `{cmd}` fail with \"{err}\"?",
    "Add {adj} {noun} support to {path} and update the tests",
    "Refactor {f} in {path} to use {T} instead of {T}",
    "Can you review {path}? I think the {noun} is {adj}.",
    "The {noun} in {path} is {adj}, please fix it",
    "Write tests for {f} in {path}",
    "Explain how {T} works and where {f} is called",
    "Rename {v} to {v} everywhere",
    "Make {f} faster, it is the hot path when {words}",
    "Run the test suite and fix whatever fails",
    "Add a {adj} flag to the CLI that {words}",
    "Update the docs for {T}, they are out of date",
    "There is a bug: {words}. Find and fix it.",
    "Implement {f} in {path}: it should {words}",
    "Clean up the {adj} code in {dir}",
    "Bump the dependencies and make sure everything still builds",
    "Investigate why CI is red on {branch}",
    "Look at the files here and fix the bug in {path}",
    "continue",
    "yes, go ahead",
    "ok now commit this",
    "that didn't work, try again",
    "{uni} {path}",
    "please check {path} {emoji}",
];

const ASSISTANT_TEMPLATES: &[&str] = &[
    "I'll start by looking at `{path}` to understand how {f} works.",
    "Let me check the {noun} in `{path}`.",
    "The {noun} is {adj} because `{v}` is never {verb}ed before `{f}` runs.",
    "Found it: `{f}` returns early when `{v}` is {adj}, so the {noun} never gets {verb}ed.",
    "Now let me run the tests to confirm the fix.",
    "The build passes. Let me also run the linter.",
    "I need to update `{T}` so that `{v}` is {verb}ed in one place.",
    "Let me search for other callers of `{f}`.",
    "This test is {adj}: it depends on the order of `{v}`.",
    "I'll update `{path}` to {verb} the `{v}` before returning.",
    "The error comes from `{path}` line {line}: {err}",
    "Let me read the rest of the {noun} first.",
    "I'll create a todo list to track this.",
    "Good, that narrows it down to `{f}` in `{path}`.",
    "The {adj} {noun} was the problem; `{f}` now {verb}s `{v}` correctly.",
];

const THINKING_TEMPLATES: &[&str] = &[
    "The user wants me to {verb} the {noun}. First I should look at {path} to see how {f} is structured.",
    "Hmm, the error says {err}. That suggests {v} is {adj} at that point.",
    "I could either {verb} {v} in {f} or change {T}. The first is smaller.",
    "Wait, the test still fails. Maybe the {noun} is cached somewhere else, perhaps in {path}.",
    "Let me think about the edge cases: {adj} input, {adj} {noun}, and a {adj} {v}.",
    "The previous command failed; running it again will not help unless I change {path} first.",
];

const FINAL_TEMPLATES: &[&str] = &[
    "Done. I {verb}ed `{f}` in `{path}` and the tests pass.",
    "Fixed. The {noun} was {adj}; `{f}` now {verb}s `{v}` before use.",
    "Summary of changes:\n\n- `{path}`: {verb} `{v}` in `{f}`\n- `{path}`: add a test for the {adj} {noun}\n\nAll {n} tests pass.",
    "I couldn't reproduce the failure locally; `{cmd}` passes. It may be {adj} in CI.",
    "The {noun} is fixed. I also noticed `{f}` in `{path}` is {adj}; want me to clean that up too?",
    "All done {emoji}",
];

const ERRORS: &[&str] = &[
    "No such file or directory (os error 2)",
    "permission denied (os error 13)",
    "connection refused (os error 111)",
    "mismatched types: expected `{T}`, found `{T}`",
    "cannot borrow `{v}` as mutable more than once at a time",
    "TypeError: Cannot read properties of undefined (reading '{v}')",
    "KeyError: '{v}'",
    "AttributeError: '{T}' object has no attribute '{v}'",
    "ModuleNotFoundError: No module named '{m}'",
    "undefined: {F}",
    "panic: runtime error: index out of range [{n}] with length {n}",
    "called `Option::unwrap()` on a `None` value",
    "assertion `left == right` failed: left: {n}, right: {n}",
    "error TS2345: Argument of type '{T}' is not assignable to parameter of type '{T}'.",
    "npm ERR! code ERESOLVE",
    "timeout after {ms}ms waiting for {v}",
    "unexpected end of JSON input at line {line} column {n}",
    "database is locked",
    "address already in use (os error 98)",
];

const CJK: &[&str] = &[
    "修复这个错误",
    "测试失败了",
    "请检查配置文件",
    "为什么会超时？",
    "ログを確認してください",
    "テストが失敗しました",
    "버그를 수정해 주세요",
    "代码审查",
    "性能问题",
];
const ARABIC: &[&str] = &[
    "يرجى إصلاح الخطأ",
    "الاختبار فشل",
    "مرحبا بالعالم",
    "راجع الملف",
];
const OTHER_SCRIPTS: &[&str] = &[
    "исправь ошибку в тесте",
    "Привет, мир",
    "διόρθωσε το σφάλμα",
    "त्रुटि ठीक करें",
    "תקן את הבאג",
    "café",
    "naïve",
    "Zürich",
    "São Paulo",
    "Ångström",
    "∑ ∆ √ π ≤ ≥ → λ",
];
const EMOJI: &[&str] = &[
    "🚀", "✅", "❌", "🎉", "🔥", "⚠️", "👍", "🐛", "📦", "🤖", "💡", "👀",
];

const COMMIT_MSGS: &[&str] = &[
    "fix {noun} in {m}",
    "add {adj} {noun}",
    "refactor {f}",
    "bump deps",
    "wip",
    "test: cover {adj} {noun}",
    "docs: update {m}",
    "chore: clean up {dir}",
    "feat({m}): {verb} {v}",
    "Merge branch '{branch}'",
];

/// Draws a uniform index in `0..n`.
#[inline]
pub(crate) fn idx(rng: &mut impl RngCore, n: usize) -> usize {
    ((u64::from(rng.next_u32()) * n as u64) >> 32) as usize
}

/// Draws an index in `0..n` skewed toward the head (roughly Zipf-like).
#[inline]
pub(crate) fn zidx(rng: &mut impl RngCore, n: usize) -> usize {
    let r = u64::from(rng.next_u32());
    // One draw in four is uniform; the rest favour the head of the list.
    let v = if r & 3 == 0 { r } else { (r * r) >> 32 };
    ((v * n as u64) >> 32) as usize
}

/// A uniform pick.
#[inline]
pub(crate) fn pick<'a>(rng: &mut impl RngCore, list: &[&'a str]) -> &'a str {
    list[idx(rng, list.len())]
}

/// A head-skewed pick.
#[inline]
pub(crate) fn zpick<'a>(rng: &mut impl RngCore, list: &[&'a str]) -> &'a str {
    list[zidx(rng, list.len())]
}

/// True with probability `p`.
#[inline]
pub(crate) fn chance(rng: &mut impl RngCore, p: f64) -> bool {
    (f64::from(rng.next_u32()) / 4_294_967_296.0) < p
}

/// A log-normal draw with the given median and shape.
pub(crate) fn lognormal(rng: &mut impl RngCore, median: f64, sigma: f64) -> f64 {
    // Box-Muller.
    let u1 = (f64::from(rng.next_u32()) + 1.0) / 4_294_967_297.0;
    let u2 = f64::from(rng.next_u32()) / 4_294_967_296.0;
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

/// What a project looks like to the text generators: its files and names.
pub(crate) struct ProjectText {
    pub(crate) cwd: String,
    /// Project-specific identifier stems (every repository has its own names).
    pub(crate) idents: Vec<String>,
    pub(crate) lang: Lang,
    pub(crate) files: Vec<String>,
    pub(crate) dirs: Vec<String>,
    pub(crate) branches: Vec<String>,
    pub(crate) package: String,
}

impl ProjectText {
    pub(crate) fn new(rng: &mut impl RngCore, index: usize, cwd: String) -> Self {
        let lang = match idx(rng, 10) {
            0..=3 => Lang::Rust,
            4..=6 => Lang::Python,
            7..=8 => Lang::TypeScript,
            _ => Lang::Go,
        };
        const SYL: &[&str] = &[
            "ab", "ac", "al", "an", "ar", "ba", "be", "bo", "ca", "ce", "co", "da", "de", "di",
            "do", "el", "en", "er", "fa", "fe", "fi", "ga", "ge", "go", "ha", "he", "ka", "ki",
            "la", "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "no", "or", "pa", "pe",
            "po", "qu", "ra", "re", "ri", "ro", "sa", "se", "si", "so", "ta", "te", "ti", "to",
            "tr", "ul", "un", "va", "ve", "vi", "xa", "xe", "yo", "za", "ze", "zo", "st", "sk",
        ];
        let idents: Vec<String> = (0..(150 + idx(rng, 250)))
            .map(|_| {
                let n = 2 + idx(rng, 3);
                (0..n).map(|_| pick(rng, SYL)).collect::<String>()
            })
            .collect();
        let package = format!("{}-{}", pick(rng, IDENT), pick(rng, IDENT));
        let top = match lang {
            Lang::Rust => vec!["src", "src/bin", "tests", "benches", "crates/core/src"],
            Lang::Python => vec![
                "src/app",
                "src/app/api",
                "tests",
                "scripts",
                "src/app/models",
            ],
            Lang::TypeScript => vec!["src", "src/components", "src/lib", "test", "scripts"],
            Lang::Go => vec![
                "cmd/server",
                "internal/store",
                "internal/api",
                "pkg/util",
                "test",
            ],
        };
        let mut dirs: Vec<String> = top.iter().map(|s| (*s).to_string()).collect();
        for _ in 0..(3 + idx(rng, 6)) {
            let base = dirs[idx(rng, dirs.len())].clone();
            dirs.push(format!("{base}/{}", pick(rng, IDENT)));
        }
        let n_files = 40 + idx(rng, 220);
        let mut files = Vec::with_capacity(n_files + 4);
        for _ in 0..n_files {
            let d = &dirs[zidx(rng, dirs.len())];
            let name = format!("{}_{}", pick(rng, IDENT), pick(rng, IDENT));
            let name = if lang == Lang::TypeScript && chance(rng, 0.3) {
                format!(
                    "{}{}",
                    capitalize(pick(rng, IDENT)),
                    capitalize(pick(rng, IDENT))
                )
            } else {
                name
            };
            files.push(format!("{d}/{name}.{}", lang.ext()));
        }
        files.push("README.md".into());
        files.push(
            match lang {
                Lang::Rust => "Cargo.toml",
                Lang::Python => "pyproject.toml",
                Lang::TypeScript => "package.json",
                Lang::Go => "go.mod",
            }
            .into(),
        );
        files.push("docs/ARCHITECTURE.md".into());
        let mut branches = vec![
            if index.is_multiple_of(3) {
                "master"
            } else {
                "main"
            }
            .to_string(),
        ];
        for _ in 0..(1 + idx(rng, 4)) {
            branches.push(format!(
                "{}/{}-{}",
                pick(rng, &["feat", "fix", "chore", "dev"]),
                pick(rng, IDENT),
                pick(rng, VERB)
            ));
        }
        Self {
            cwd,
            idents,
            lang,
            files,
            dirs,
            branches,
            package,
        }
    }

    pub(crate) fn file(&self, rng: &mut impl RngCore) -> &str {
        &self.files[zidx(rng, self.files.len())]
    }

    pub(crate) fn dir(&self, rng: &mut impl RngCore) -> &str {
        &self.dirs[zidx(rng, self.dirs.len())]
    }
}

pub(crate) fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The generator: a project's vocabulary plus the current simulated time.
pub(crate) struct Tx<'a> {
    pub(crate) p: &'a ProjectText,
    pub(crate) now_ms: i64,
}

impl Tx<'_> {
    /// Expands a template: `{v}` variable, `{f}` function, `{F}` exported function, `{T}` type,
    /// `{m}` module, `{n}` number, `{ms}` duration, `{line}`, `{ty}` language type, `{words}`,
    /// `{comment}`, `{path}`, `{dir}`, `{branch}`, `{cmd}`, `{err}`, `{adj}`, `{noun}`, `{verb}`,
    /// `{hex7}`, `{time}`, `{uni}`, `{emoji}`, `{pkg}`; `{{`/`}}` are literal braces.
    pub(crate) fn expand(&self, rng: &mut impl RngCore, tpl: &str, out: &mut String) {
        let b = tpl.as_bytes();
        let mut i = 0;
        let mut lit = 0;
        while i < b.len() {
            match b[i] {
                b'{' if b.get(i + 1) == Some(&b'{') => {
                    out.push_str(&tpl[lit..=i]);
                    i += 2;
                    lit = i;
                }
                b'}' if b.get(i + 1) == Some(&b'}') => {
                    out.push_str(&tpl[lit..=i]);
                    i += 2;
                    lit = i;
                }
                b'{' => {
                    out.push_str(&tpl[lit..i]);
                    let end = tpl[i..].find('}').map_or(b.len(), |e| i + e);
                    self.placeholder(rng, &tpl[i + 1..end], out);
                    i = end + 1;
                    lit = i;
                }
                _ => i += 1,
            }
        }
        if lit < b.len() {
            out.push_str(&tpl[lit..]);
        }
    }

    /// A word for an identifier: the shared vocabulary or the project's own stems.
    fn ident_word<'s>(&'s self, rng: &mut impl RngCore) -> &'s str {
        if chance(rng, 0.35) {
            &self.p.idents[zidx(rng, self.p.idents.len())]
        } else {
            zpick(rng, IDENT)
        }
    }

    fn placeholder(&self, rng: &mut impl RngCore, name: &str, out: &mut String) {
        match name {
            "v" => {
                out.push_str(self.ident_word(rng));
                if chance(rng, 0.4) {
                    out.push('_');
                    out.push_str(self.ident_word(rng));
                }
            }
            "f" => {
                out.push_str(zpick(rng, VERB));
                out.push('_');
                out.push_str(self.ident_word(rng));
            }
            "F" => {
                out.push_str(&capitalize(zpick(rng, VERB)));
                out.push_str(&capitalize(self.ident_word(rng)));
            }
            "T" => {
                let (a, b) = (self.ident_word(rng), self.ident_word(rng));
                out.push_str(&capitalize(a));
                out.push_str(&capitalize(b));
            }
            "E" => out.push_str(&capitalize(self.ident_word(rng))),
            "m" => out.push_str(self.ident_word(rng)),
            "n" => push_num(out, zidx(rng, 1000) as u64),
            "N" => push_num(out, rng.random_range(1000..2_000_000)),
            "ms" => push_num(out, rng.random_range(5..30_000)),
            "line" => push_num(out, 1 + zidx(rng, 800) as u64),
            "ty" => out.push_str(zpick(
                rng,
                match self.p.lang {
                    Lang::Rust => TYPES_RUST,
                    Lang::Python => TYPES_PY,
                    Lang::TypeScript => TYPES_TS,
                    Lang::Go => TYPES_GO,
                },
            )),
            "words" => {
                let n = 3 + idx(rng, 6);
                for k in 0..n {
                    if k > 0 {
                        out.push(' ');
                    }
                    out.push_str(zpick(rng, WORDS));
                }
            }
            "comment" => self.sentence(rng, out),
            "path" => out.push_str(self.p.file(rng)),
            "dir" => out.push_str(self.p.dir(rng)),
            "branch" => out.push_str(&self.p.branches[idx(rng, self.p.branches.len())]),
            "cmd" => self.command(rng, out),
            "err" => {
                let e = pick(rng, ERRORS);
                self.expand(rng, e, out);
            }
            "adj" => out.push_str(zpick(rng, ADJ)),
            "noun" => out.push_str(zpick(rng, NOUN)),
            "verb" => out.push_str(zpick(rng, VERB)),
            "hex7" => out.push_str(&ids::hex_n(rng, 7)),
            "time" => {
                let s = (self.now_ms.rem_euclid(ids::DAY_MS) / 1000) as u64;
                push_num2(out, s / 3600);
                out.push(':');
                push_num2(out, (s / 60) % 60);
                out.push(':');
                push_num2(out, s % 60);
            }
            "uni" => self.unicode(rng, out),
            "emoji" => out.push_str(pick(rng, EMOJI)),
            "pkg" => out.push_str(&self.p.package),
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
            }
        }
    }

    /// One sentence of plain prose.
    pub(crate) fn sentence(&self, rng: &mut impl RngCore, out: &mut String) {
        let n = 5 + idx(rng, 12);
        for k in 0..n {
            let w = if chance(rng, 0.15) {
                zpick(rng, IDENT)
            } else {
                zpick(rng, WORDS)
            };
            if k == 0 {
                out.push_str(&capitalize(w));
            } else {
                out.push(' ');
                out.push_str(w);
            }
        }
        out.push('.');
    }

    /// A short run of non-Latin text or an emoji.
    pub(crate) fn unicode(&self, rng: &mut impl RngCore, out: &mut String) {
        match idx(rng, 4) {
            0 => out.push_str(pick(rng, CJK)),
            1 => out.push_str(pick(rng, ARABIC)),
            2 => out.push_str(pick(rng, OTHER_SCRIPTS)),
            _ => out.push_str(pick(rng, EMOJI)),
        }
    }

    /// A user prompt.
    pub(crate) fn user_prompt(&self, rng: &mut impl RngCore, out: &mut String) {
        let t = zpick(rng, USER_TEMPLATES);
        self.expand(rng, t, out);
        if chance(rng, 0.04) {
            out.push(' ');
            self.unicode(rng, out);
        }
        if chance(rng, 0.12) {
            // A pasted error or log excerpt.
            out.push_str("\n\n```\n");
            let n = 3 + idx(rng, 30);
            self.log_lines(rng, out, n);
            out.push_str("```");
        }
    }

    /// A short assistant remark (one or a few sentences).
    pub(crate) fn assistant_text(&self, rng: &mut impl RngCore, out: &mut String) {
        let n = 1 + zidx(rng, 4);
        for k in 0..n {
            if k > 0 {
                out.push(' ');
            }
            let t = pick(rng, ASSISTANT_TEMPLATES);
            self.expand(rng, t, out);
        }
        if chance(rng, 0.1) {
            out.push_str("\n\n```");
            out.push_str(self.p.lang.ext());
            out.push('\n');
            let n = 2 + idx(rng, 12);
            self.code_lines(rng, out, self.p.lang, n);
            out.push_str("```");
        }
        if chance(rng, 0.01) {
            out.push(' ');
            self.unicode(rng, out);
        }
    }

    /// The closing message of a turn.
    pub(crate) fn final_text(&self, rng: &mut impl RngCore, out: &mut String) {
        let t = pick(rng, FINAL_TEMPLATES);
        self.expand(rng, t, out);
    }

    /// Thinking text: a few reasoning sentences.
    pub(crate) fn thinking(&self, rng: &mut impl RngCore, out: &mut String) {
        let n = 1 + idx(rng, 6);
        for k in 0..n {
            if k > 0 {
                out.push(if chance(rng, 0.3) { '\n' } else { ' ' });
            }
            let t = pick(rng, THINKING_TEMPLATES);
            self.expand(rng, t, out);
        }
    }

    /// A shell command as the model would write it.
    pub(crate) fn command(&self, rng: &mut impl RngCore, out: &mut String) {
        let tpl = match (idx(rng, 3), self.p.lang) {
            (0, Lang::Rust) => pick(
                rng,
                &[
                    "cargo test -p {pkg}",
                    "cargo build",
                    "cargo clippy --all-targets -- -D warnings",
                    "cargo test {f}",
                    "cargo check",
                ],
            ),
            (0, Lang::Python) => pick(
                rng,
                &[
                    "pytest -x {path}",
                    "pytest -q",
                    "python -m {m}",
                    "ruff check .",
                    "mypy {dir}",
                ],
            ),
            (0, Lang::TypeScript) => pick(
                rng,
                &[
                    "npm test",
                    "npx tsc --noEmit",
                    "npm run build",
                    "npx vitest run {path}",
                    "npm run lint",
                ],
            ),
            (0, Lang::Go) => pick(
                rng,
                &[
                    "go test ./...",
                    "go build ./...",
                    "go vet ./...",
                    "go test -run {F} ./{dir}",
                ],
            ),
            (1, _) => pick(
                rng,
                &[
                    "git status",
                    "git diff --stat",
                    "git log --oneline -n 20",
                    "git diff {path}",
                    "ls -la {dir}",
                    "rg -n \"{f}\" {dir}",
                    "wc -l {path}",
                ],
            ),
            _ => pick(
                rng,
                &[
                    "head -n 80 {path}",
                    "make test",
                    "tail -n 200 logs/{m}.log",
                    "find {dir} -name '*.{ext}' | head -50",
                    "grep -rn \"{v}\" {dir}",
                    "docker compose ps",
                    "./scripts/{f}.sh",
                ],
            ),
        };
        if tpl.contains("{ext}") {
            let t = tpl.replace("{ext}", self.p.lang.ext());
            self.expand(rng, &t, out);
        } else {
            self.expand(rng, tpl, out);
        }
    }

    /// `n` lines of source code in `lang`.
    pub(crate) fn code_lines(
        &self,
        rng: &mut impl RngCore,
        out: &mut String,
        lang: Lang,
        n: usize,
    ) {
        let tpls: &[&str] = match lang {
            Lang::Rust => &[
                "use crate::{m}::{{{T}, {T}}};",
                "pub fn {f}(&self, {v}: &{ty}) -> Result<{T}> {{",
                "    let {v} = self.{f}({v}, {n})?;",
                "    if {v}.is_empty() {{",
                "        return Err(Error::{E}(\"{words}\".into()));",
                "    }}",
                "    for {v} in {v}.iter() {{",
                "        {v}.push({v}.{f}());",
                "    Ok({T}::new({v}))",
                "}}",
                "",
                "#[derive(Debug, Clone, PartialEq)]",
                "pub struct {T} {{",
                "    pub {v}: {ty},",
                "    // {comment}",
                "    assert_eq!({v}.len(), {n});",
                "impl {T} {{",
                "        .map(|{v}| {v}.{f}())",
                "    let mut {v} = Vec::with_capacity({n});",
                "    match {v} {{",
                "        Some({v}) => {v}.{f}(),",
                "        None => return Ok(()),",
            ],
            Lang::Python => &[
                "import {m}",
                "from {m}.{m} import {T}, {f}",
                "def {f}({v}, {v}={n}):",
                "    \"\"\"{comment}\"\"\"",
                "    {v} = {f}({v})",
                "    if {v} is None:",
                "        raise ValueError(f\"{words} {{{v}}}\")",
                "    return {v}",
                "",
                "class {T}({T}):",
                "    for {v} in {v}:",
                "        {v}.append({v}.{f}())",
                "    # {comment}",
                "    {v}: {ty} = field(default_factory=list)",
                "    assert {v} == {n}",
                "    with open({v}) as fh:",
                "        return json.load(fh)",
            ],
            Lang::TypeScript => &[
                "import {{ {T}, {f} }} from './{m}';",
                "export function {f}({v}: {ty}): {T} {{",
                "  const {v} = await {v}.{f}({n});",
                "  if (!{v}) throw new Error('{words}');",
                "  return {v}.map(({v}) => {v}.{f});",
                "}}",
                "",
                "export interface {T} {{",
                "  {v}: {ty};",
                "  // {comment}",
                "  expect({v}).toEqual({n});",
                "  it('{words}', async () => {{",
                "  }});",
                "  const [{v}, set{T}] = useState<{ty}>();",
            ],
            Lang::Go => &[
                "func ({v} *{T}) {F}({v} {ty}) ({T}, error) {{",
                "\t{v}, err := {v}.{F}(ctx, {n})",
                "\tif err != nil {{",
                "\t\treturn nil, fmt.Errorf(\"{words}: %w\", err)",
                "\t}}",
                "\treturn {v}, nil",
                "}}",
                "",
                "type {T} struct {{",
                "\t{F} {ty} `json:\"{v}\"`",
                "// {F} {comment}",
                "\tfor _, {v} := range {v} {{",
                "\tdefer {v}.Close()",
            ],
        };
        for _ in 0..n {
            let t = tpls[zidx(rng, tpls.len())];
            self.expand(rng, t, out);
            out.push('\n');
        }
    }

    /// `n` application log lines.
    pub(crate) fn log_lines(&self, rng: &mut impl RngCore, out: &mut String, n: usize) {
        let mut t = self.now_ms - (n as i64) * 250;
        for _ in 0..n {
            t += rng.random_range(1..700);
            let mut b = Vec::with_capacity(24);
            ids::push_timestamp(&mut b, t);
            out.push_str(&String::from_utf8_lossy(&b));
            let level = match idx(rng, 20) {
                0 => " ERROR ",
                1..=2 => " WARN  ",
                3..=6 => " DEBUG ",
                _ => " INFO  ",
            };
            out.push_str(level);
            out.push_str(&self.p.package);
            out.push_str("::");
            out.push_str(zpick(rng, IDENT));
            out.push_str(": ");
            match idx(rng, 4) {
                0 => {
                    let e = pick(rng, ERRORS);
                    self.expand(rng, e, out);
                }
                1 => self.expand(rng, "{verb} {v} in {ms}ms ({n} rows)", out),
                2 => self.expand(rng, "request {hex7} {verb} {path} status={n}", out),
                _ => self.sentence(rng, out),
            }
            out.push('\n');
        }
    }

    /// Test-runner output with `n` tests of which `failed` fail.
    pub(crate) fn test_output(
        &self,
        rng: &mut impl RngCore,
        out: &mut String,
        n: usize,
        failed: usize,
    ) {
        match self.p.lang {
            Lang::Rust => {
                self.expand(rng, "   Compiling {pkg} v0.1.0 ({path})\n", out);
                out.push_str(
                    "    Finished `test` profile [unoptimized + debuginfo] target(s) in 4.21s\n",
                );
                self.expand(
                    rng,
                    "     Running unittests src/lib.rs (target/debug/deps/{m}-{hex7})\n\n",
                    out,
                );
                push_num_line(out, "running ", n, " tests");
                for k in 0..n {
                    out.push_str("test ");
                    self.expand(rng, "{m}::{m}::{f}", out);
                    out.push_str(if k < failed {
                        " ... FAILED\n"
                    } else {
                        " ... ok\n"
                    });
                }
                if failed > 0 {
                    out.push_str("\nfailures:\n\n---- ");
                    self.expand(rng, "{m}::{f} stdout ----\nthread '{m}::{f}' panicked at {path}:{line}:{n}:\n{err}\n", out);
                }
                out.push_str(if failed > 0 {
                    "\ntest result: FAILED. "
                } else {
                    "\ntest result: ok. "
                });
                push_num(out, (n - failed) as u64);
                out.push_str(" passed; ");
                push_num(out, failed as u64);
                out.push_str(" failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.42s\n");
            }
            Lang::Python => {
                out.push_str("============================= test session starts ==============================\n");
                out.push_str("platform linux -- Python 3.12.4, pytest-8.3.2, pluggy-1.5.0\n");
                push_num_line(out, "collected ", n, " items\n");
                for k in 0..n {
                    self.expand(rng, "tests/test_{m}.py::test_{f} ", out);
                    out.push_str(if k < failed { "FAILED\n" } else { "PASSED\n" });
                }
                if failed > 0 {
                    out.push_str("\n=================================== FAILURES ===================================\n");
                    self.expand(rng, "    def test_{f}():\n>       assert {v} == {n}\nE       {err}\n\n{path}:{line}: AssertionError\n", out);
                }
                out.push_str("========================= ");
                push_num(out, (n - failed) as u64);
                out.push_str(" passed, ");
                push_num(out, failed as u64);
                out.push_str(" failed in 3.17s =========================\n");
            }
            Lang::TypeScript => {
                for k in 0..n {
                    out.push_str(if k < failed { " ✗ " } else { " ✓ " });
                    self.expand(rng, "{path} > {words} ({ms}ms)\n", out);
                }
                out.push_str("\n Test Files  ");
                push_num(out, failed as u64);
                out.push_str(" failed | ");
                push_num(out, (n - failed) as u64);
                out.push_str(" passed\n");
            }
            Lang::Go => {
                for k in 0..n {
                    self.expand(rng, "=== RUN   Test{F}\n", out);
                    if k < failed {
                        self.expand(
                            rng,
                            "    {m}_test.go:{line}: {err}\n--- FAIL: Test{F} (0.01s)\n",
                            out,
                        );
                    } else {
                        self.expand(rng, "--- PASS: Test{F} (0.00s)\n", out);
                    }
                }
                out.push_str(if failed > 0 { "FAIL\n" } else { "PASS\n" });
                self.expand(rng, "ok  \tgithub.com/dev/{pkg}/{dir}\t0.412s\n", out);
            }
        }
    }

    /// Output for a shell command (success or failure).
    pub(crate) fn command_output(
        &self,
        rng: &mut impl RngCore,
        cmd: &str,
        out: &mut String,
        target_len: usize,
        fail: bool,
    ) {
        let lines_for = |len: usize, per: usize| (len / per).max(1);
        if cmd.starts_with("git status") {
            out.push_str("On branch ");
            out.push_str(&self.p.branches[idx(rng, self.p.branches.len())]);
            out.push_str("\nChanges not staged for commit:\n  (use \"git add <file>...\" to update what will be committed)\n");
            for _ in 0..lines_for(target_len, 40).min(60) {
                out.push_str("\tmodified:   ");
                out.push_str(self.p.file(rng));
                out.push('\n');
            }
        } else if cmd.starts_with("git log") {
            for _ in 0..lines_for(target_len, 50) {
                out.push_str(&ids::hex_n(rng, 7));
                out.push(' ');
                let t = pick(rng, COMMIT_MSGS);
                self.expand(rng, t, out);
                out.push('\n');
            }
        } else if cmd.starts_with("git diff") {
            let n = lines_for(target_len, 45);
            out.push_str("diff --git a/");
            let f = self.p.file(rng).to_string();
            out.push_str(&f);
            out.push_str(" b/");
            out.push_str(&f);
            out.push_str("\n@@ -12,7 +12,9 @@\n");
            let mut body = String::new();
            self.code_lines(rng, &mut body, self.p.lang, n);
            for (k, l) in body.lines().enumerate() {
                out.push(match k % 7 {
                    2 => '-',
                    3 | 4 => '+',
                    _ => ' ',
                });
                out.push_str(l);
                out.push('\n');
            }
        } else if cmd.starts_with("ls") {
            for _ in 0..lines_for(target_len, 60) {
                let dir = chance(rng, 0.2);
                out.push_str(if dir { "drwxr-xr-x  " } else { "-rw-r--r--  " });
                push_num(out, 1 + idx(rng, 9) as u64);
                out.push_str(" dev dev ");
                push_num(out, if dir { 4096 } else { zidx(rng, 60_000) as u64 });
                out.push_str(" Oct ");
                push_num(out, 1 + idx(rng, 28) as u64);
                out.push(' ');
                self.expand(rng, "{time} ", out);
                out.push_str(zpick(rng, IDENT));
                if !dir {
                    out.push('.');
                    out.push_str(self.p.lang.ext());
                }
                out.push('\n');
            }
        } else if cmd.starts_with("rg") || cmd.starts_with("grep") {
            let mut line = String::new();
            for _ in 0..lines_for(target_len, 80) {
                out.push_str(self.p.file(rng));
                out.push(':');
                push_num(out, 1 + zidx(rng, 900) as u64);
                out.push(':');
                line.clear();
                self.code_lines(rng, &mut line, self.p.lang, 1);
                out.push_str(line.trim_end());
                out.push('\n');
            }
        } else if cmd.contains("test") || cmd.starts_with("pytest") || cmd.starts_with("make") {
            let n = lines_for(target_len, 55);
            let failed = if fail {
                1 + idx(rng, 3).min(n.saturating_sub(1))
            } else {
                0
            };
            self.test_output(rng, out, n.max(1), failed.min(n));
        } else if cmd.starts_with("head") || cmd.starts_with("cat") {
            self.code_lines(rng, out, self.p.lang, lines_for(target_len, 35));
        } else if cmd.starts_with("find") || cmd.starts_with("wc") {
            for _ in 0..lines_for(target_len, 30) {
                if cmd.starts_with("wc") {
                    push_num(out, zidx(rng, 3000) as u64);
                    out.push(' ');
                }
                out.push_str(self.p.file(rng));
                out.push('\n');
            }
        } else if cmd.starts_with("cargo build")
            || cmd.starts_with("cargo check")
            || cmd.starts_with("cargo clippy")
            || cmd.contains("tsc")
            || cmd.contains("build")
        {
            for _ in 0..lines_for(target_len, 70) {
                match idx(rng, 5) {
                    0 => self.expand(
                        rng,
                        "warning: unused variable: `{v}`\n  --> {path}:{line}:{n}\n",
                        out,
                    ),
                    1 => self.expand(rng, "   Compiling {m} v0.{n}.{n}\n", out),
                    _ => self.expand(rng, "   Compiling {m}-{m} v1.{n}.{n}\n", out),
                }
            }
            if fail {
                self.expand(
                    rng,
                    "error[E0308]: {err}\n  --> {path}:{line}:{n}\n   |\n",
                    out,
                );
                out.push_str("error: could not compile due to 1 previous error\n");
            } else {
                out.push_str(
                    "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 12.84s\n",
                );
            }
        } else {
            self.log_lines(rng, out, lines_for(target_len, 110));
        }
        if fail && !out.ends_with('\n') {
            out.push('\n');
        }
        if fail {
            let e = pick(rng, ERRORS);
            self.expand(rng, e, out);
        }
        while out.ends_with('\n') {
            out.pop();
        }
    }

    /// The content of a source file with about `n_lines` lines.
    pub(crate) fn file_content(
        &self,
        rng: &mut impl RngCore,
        path: &str,
        n_lines: usize,
        out: &mut String,
    ) {
        if path.ends_with(".md") {
            out.push_str("# ");
            out.push_str(&capitalize(&self.p.package));
            out.push_str("\n\n");
            for _ in 0..n_lines / 2 {
                self.sentence(rng, out);
                out.push(if chance(rng, 0.3) { '\n' } else { ' ' });
            }
            out.push('\n');
            return;
        }
        let lang = match path.rsplit('.').next() {
            Some("py") => Lang::Python,
            Some("ts") => Lang::TypeScript,
            Some("go") => Lang::Go,
            _ => Lang::Rust,
        };
        self.code_lines(rng, out, lang, n_lines.max(1));
    }
}

/// Appends a decimal number.
pub(crate) fn push_num(out: &mut String, n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut v = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &c in &tmp[i..] {
        out.push(c as char);
    }
}

fn push_num2(out: &mut String, n: u64) {
    out.push((b'0' + (n / 10 % 10) as u8) as char);
    out.push((b'0' + (n % 10) as u8) as char);
}

fn push_num_line(out: &mut String, pre: &str, n: usize, post: &str) {
    out.push_str(pre);
    push_num(out, n as u64);
    out.push_str(post);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn templates_expand_without_leftover_placeholders() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let p = ProjectText::new(&mut rng, 1, "/home/dev/proj-1".into());
        let tx = Tx {
            p: &p,
            now_ms: 1_790_000_000_000,
        };
        let mut s = String::new();
        for _ in 0..200 {
            tx.user_prompt(&mut rng, &mut s);
            tx.assistant_text(&mut rng, &mut s);
            tx.final_text(&mut rng, &mut s);
            tx.thinking(&mut rng, &mut s);
            tx.command(&mut rng, &mut s);
        }
        for lang in [Lang::Rust, Lang::Python, Lang::TypeScript, Lang::Go] {
            tx.code_lines(&mut rng, &mut s, lang, 50);
        }
        for known in ["{v}", "{f}", "{T}", "{path}", "{err}", "{words}", "{ext}"] {
            assert!(!s.contains(known), "unexpanded {known}");
        }
    }
}
