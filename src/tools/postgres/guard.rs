//! The early refusal: a small SQL lexer that finds the statement's first keyword.
//!
//! This layer is for the model's sake (a clear "not allowed, here is what is"
//! before any round trip); the database is the real guard. The lexer skips
//! comments (`--`, nested `/* */`), strings (`'…'`, `E'…'`, `U&'…'`, `B'…'`,
//! `X'…'`), quoted identifiers and dollar quotes, so keywords hidden in them
//! neither refuse nor pass a statement.

/// What the lexer keeps of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word (keyword or unquoted identifier), upper-cased.
    Word(String),
    /// `;`
    Semicolon,
    /// `(`
    Open,
    /// `)`
    Close,
    /// A double-quoted identifier, unquoted (`"a""b"` → `a"b`).
    Quoted(String),
    /// A `U&"…"` identifier, whose escapes the lexer does not decode.
    UnicodeQuoted,
    /// Anything else: literals, quoted identifiers, operators, parameters.
    Other,
}

/// What the tool accepts, said to the model in every refusal.
const ALLOWED: &str = "send one read-only statement: SELECT, WITH … SELECT, VALUES, TABLE, EXPLAIN (without ANALYZE) or SHOW";

/// Checks that `sql` is one read-only query the tool is willing to send.
///
/// Returns the refusal reason, written for the model.
pub(crate) fn check(sql: &str) -> Result<(), String> {
    let tokens = lex(sql);
    let Some(end) = tokens.iter().rposition(|t| *t != Token::Semicolon) else {
        return Err(format!("the query is empty; {ALLOWED}"));
    };
    let body = tokens.get(..=end).unwrap_or_default();
    if body.contains(&Token::Semicolon) {
        return Err(format!(
            "only one statement per call is allowed (found `;` between statements); {ALLOWED}"
        ));
    }
    let first = body.iter().find(|t| **t != Token::Open);
    let Some(Token::Word(first)) = first else {
        return Err(format!(
            "the query does not start with a keyword; {ALLOWED}"
        ));
    };
    check_functions(body)?;
    match first.as_str() {
        "SELECT" | "WITH" | "VALUES" | "TABLE" => check_body(body),
        "EXPLAIN" => {
            if explain_analyzes(body) {
                return Err(format!(
                    "EXPLAIN ANALYZE runs the statement and is not allowed; use plain EXPLAIN, or {ALLOWED}"
                ));
            }
            check_body(body)
        }
        "SHOW" => Ok(()),
        other => Err(refusal_for(other)),
    }
}

/// The refusal for a statement whose first keyword is not allowed.
fn refusal_for(keyword: &str) -> String {
    let why = match keyword {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" => {
            "transaction control is not allowed: the tool runs every query in its own read-only transaction"
        }
        "SET" | "RESET" | "DISCARD" => "changing session settings is not allowed",
        "PREPARE" | "EXECUTE" | "DEALLOCATE" | "DECLARE" | "FETCH" | "MOVE" | "CLOSE" => {
            "prepared statements and cursors are not allowed"
        }
        "LISTEN" | "NOTIFY" | "UNLISTEN" => "LISTEN/NOTIFY is not allowed",
        "COPY" => "COPY is not allowed",
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" => {
            "the database is read-only for this tool: data-modifying statements are not allowed"
        }
        "CREATE" | "ALTER" | "DROP" | "GRANT" | "REVOKE" | "COMMENT" | "SECURITY" | "REINDEX"
        | "CLUSTER" | "VACUUM" | "ANALYZE" | "ANALYSE" | "REFRESH" | "IMPORT" | "LOAD"
        | "CHECKPOINT" | "LOCK" | "REASSIGN" => {
            "the database is read-only for this tool: DDL and maintenance statements are not allowed"
        }
        "CALL" | "DO" => "procedures and DO blocks are not allowed",
        _ => "this statement is not a query",
    };
    format!("{why} (statement starts with `{keyword}`); {ALLOWED}")
}

/// Whether an `EXPLAIN` asks for `ANALYZE`, bare or in its option list.
fn explain_analyzes(body: &[Token]) -> bool {
    let mut words = body.iter().skip_while(|t| **t == Token::Open).skip(1);
    match words.next() {
        Some(Token::Word(w)) => w == "ANALYZE" || w == "ANALYSE",
        Some(Token::Open) => words
            .take_while(|t| **t != Token::Close)
            .any(|t| matches!(t, Token::Word(w) if w == "ANALYZE" || w == "ANALYSE")),
        _ => false,
    }
}

/// Functions that act on other sessions. PostgreSQL lets any role signal the
/// backends of its own role, so a read-only role could still end the pool's
/// other connections (or the application's, if it shares the role): no
/// read-only transaction or privilege check stops that.
const SIGNALLING: [&str; 3] = [
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_log_backend_memory_contexts",
];

/// Refuses calls of [`SIGNALLING`] functions, however they are spelled
/// (`pg_catalog.` prefix, any case, double quotes), and calls through
/// `U&"…"` names the lexer cannot read.
fn check_functions(body: &[Token]) -> Result<(), String> {
    for pair in body.windows(2) {
        let [name, Token::Open] = pair else { continue };
        let called = match name {
            Token::Word(w) => w.to_lowercase(),
            Token::Quoted(q) => q.clone(),
            Token::UnicodeQuoted => {
                return Err(format!(
                    "functions named with U&\"…\" escapes are not allowed; write the name plainly; {ALLOWED}"
                ));
            }
            _ => continue,
        };
        if SIGNALLING.contains(&called.as_str()) {
            return Err(format!(
                "`{called}` signals other database sessions and is not allowed; {ALLOWED}"
            ));
        }
    }
    Ok(())
}

/// Refuses data-modifying parts inside an allowed statement: DML in a CTE,
/// `SELECT … INTO`, and row locks (`FOR UPDATE` / `FOR SHARE`).
fn check_body(body: &[Token]) -> Result<(), String> {
    let mut previous: Option<&str> = None;
    for token in body {
        let Token::Word(word) = token else {
            previous = None;
            continue;
        };
        let after_for = matches!(previous, Some("FOR" | "KEY"));
        match word.as_str() {
            "UPDATE" | "SHARE" if after_for => {
                return Err(format!(
                    "row locks (FOR UPDATE / FOR SHARE) are not allowed in a read-only query; {ALLOWED}"
                ));
            }
            "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" => {
                return Err(format!(
                    "data-modifying statements are not allowed, also not inside WITH (found `{word}`; \
                     if it is a column name, write it in double quotes); {ALLOWED}"
                ));
            }
            "INTO" => {
                return Err(format!(
                    "SELECT … INTO creates a table and is not allowed (if `into` is a column name, write it \
                     in double quotes); {ALLOWED}"
                ));
            }
            _ => {}
        }
        previous = Some(word.as_str());
    }
    Ok(())
}

/// Splits SQL into the tokens [`check`] needs, skipping comments and quoted text.
fn lex(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '-' if at(i + 1) == Some('-') => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                let mut depth = 0usize;
                while let Some(c) = at(i) {
                    if c == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if c == '*' && at(i + 1) == Some('/') {
                        depth = depth.saturating_sub(1);
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            '\'' => {
                i = skip_quoted(&chars, i, '\'', false);
                tokens.push(Token::Other);
            }
            '"' => {
                let end = skip_quoted(&chars, i, '"', false);
                let inner: String = chars
                    .get(i + 1..end.saturating_sub(1).max(i + 1))
                    .unwrap_or_default()
                    .iter()
                    .collect();
                tokens.push(Token::Quoted(inner.replace("\"\"", "\"")));
                i = end;
            }
            '$' => {
                i = skip_dollar(&chars, i);
                tokens.push(Token::Other);
            }
            ';' => {
                tokens.push(Token::Semicolon);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            c if is_ident_start(c) => {
                let start = i;
                while at(i).is_some_and(is_ident_char) {
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                let upper = word.to_uppercase();
                match (upper.as_str(), at(i)) {
                    // E'…' escapes backslashes; B'…', X'…', N'…' are plain.
                    ("E", Some('\'')) => {
                        i = skip_quoted(&chars, i, '\'', true);
                        tokens.push(Token::Other);
                    }
                    ("B" | "X" | "N", Some('\'')) => {
                        i = skip_quoted(&chars, i, '\'', false);
                        tokens.push(Token::Other);
                    }
                    // U&'…' and U&"…".
                    ("U", Some('&')) if matches!(at(i + 1), Some('\'' | '"')) => {
                        let quote = at(i + 1).unwrap_or('\'');
                        i = skip_quoted(&chars, i + 1, quote, false);
                        tokens.push(if quote == '"' {
                            Token::UnicodeQuoted
                        } else {
                            Token::Other
                        });
                    }
                    _ => tokens.push(Token::Word(upper)),
                }
            }
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    tokens
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Skips a quoted run starting at `start` (the opening quote); a doubled quote
/// stays inside; with `backslash`, `\x` escapes too. Returns the index after it.
fn skip_quoted(chars: &[char], start: usize, quote: char, backslash: bool) -> usize {
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        if backslash && c == '\\' {
            i += 2;
        } else if c == quote {
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    chars.len()
}

/// Skips `$tag$ … $tag$` starting at `start`, or a `$1` parameter / lone `$`.
fn skip_dollar(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    // `$1`: a positional parameter.
    if chars.get(i).is_some_and(char::is_ascii_digit) {
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        return i;
    }
    while chars
        .get(i)
        .is_some_and(|&c| c != '$' && (c.is_alphanumeric() || c == '_' || !c.is_ascii()))
    {
        i += 1;
    }
    if chars.get(i) != Some(&'$') {
        return start + 1;
    }
    let tag = chars.get(start..=i).unwrap_or_default();
    let mut j = i + 1;
    while j < chars.len() {
        if chars.get(j..j + tag.len()) == Some(tag) {
            return j + tag.len();
        }
        j += 1;
    }
    chars.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) {
        assert_eq!(check(sql), Ok(()), "{sql}");
    }

    fn refused(sql: &str, needle: &str) {
        let err = check(sql).expect_err(sql);
        assert!(err.contains(needle), "{sql}: {err}");
        assert!(err.contains("SELECT, WITH"), "{sql}: {err}");
    }

    #[test]
    fn signalling_functions_are_refused_however_spelled() {
        for sql in [
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = current_user",
            "select PG_CANCEL_BACKEND(1)",
            "SELECT pg_catalog.pg_terminate_backend (42)",
            "SELECT \"pg_terminate_backend\"(42)",
            "SELECT * FROM pg_stat_activity, LATERAL pg_cancel_backend(pid) AS x",
        ] {
            refused(sql, "signals other database sessions");
        }
        refused("SELECT U&\"\\0070g_cancel_backend\"(1)", "U&");
        ok("SELECT 'pg_terminate_backend(1)'");
        ok("SELECT \"pg_terminate_backend\" FROM t");
        ok("SELECT a.\"we\"\"ird\"(1) FROM t a");
    }

    #[test]
    fn queries_pass() {
        ok("SELECT 1");
        ok("  select 1;  ");
        ok("select 1;;");
        ok("(SELECT 1) UNION (SELECT 2)");
        ok("WITH x AS (SELECT 1) SELECT * FROM x");
        ok("VALUES (1), (2)");
        ok("TABLE app.orders");
        ok("EXPLAIN SELECT 1");
        ok("EXPLAIN (FORMAT JSON) SELECT 1");
        ok("SHOW search_path");
        ok("-- a comment; DROP TABLE x\nSELECT 1");
        ok("/* nested /* ; */ DROP */ SELECT 1");
        ok("SELECT 'a;b', \"x;y\", $$;DROP$$, $t$ ; $x$ ; $t$, E'\\';', U&'d\\0061t;a'");
        ok("SELECT updated_at, inserted FROM t");
        ok("SELECT \"update\" FROM t");
        ok("SELECT 1 AS \"INTO\"");
    }

    #[test]
    fn stacked_statements_are_refused() {
        refused("SELECT 1; DROP TABLE t", "one statement");
        refused("SELECT 1;COMMIT;DROP TABLE t", "one statement");
        refused("SELECT 1 -- x\n; DELETE FROM t", "one statement");
        refused("SELECT 'a'';'; SELECT 2", "one statement");
        refused("SELECT E'\\'';' ; SELECT 2", "one statement");
        refused("SELECT $a$ $b$ $a$; SELECT 2", "one statement");
    }

    #[test]
    fn non_queries_are_refused() {
        refused("COMMIT", "transaction control");
        refused("begin; select 1", "one statement");
        refused("SET ROLE postgres", "session settings");
        refused("RESET ALL", "session settings");
        refused("PREPARE p AS SELECT 1", "prepared statements");
        refused("COPY t TO PROGRAM 'id'", "COPY");
        refused("DROP TABLE t", "DDL");
        refused("/* SELECT */ DELETE FROM t", "data-modifying");
        refused("", "empty");
        refused(" ; ", "empty");
        refused("42", "keyword");
    }

    #[test]
    fn writes_inside_queries_are_refused() {
        refused(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "data-modifying",
        );
        refused("SELECT * INTO new_t FROM t", "INTO");
        refused("SELECT * FROM t FOR UPDATE", "row locks");
        refused("SELECT * FROM t FOR NO KEY UPDATE", "row locks");
        refused("SELECT * FROM t FOR KEY SHARE", "row locks");
        refused("EXPLAIN ANALYZE SELECT 1", "ANALYZE");
        refused("EXPLAIN (COSTS OFF, ANALYZE) SELECT 1", "ANALYZE");
        refused("EXPLAIN INSERT INTO t VALUES (1)", "data-modifying");
    }

    #[test]
    fn unterminated_text_does_not_panic() {
        let _ = check("SELECT 'abc");
        let _ = check("SELECT $a$ abc");
        let _ = check("SELECT /* abc");
        let _ = check("SELECT E'\\");
        let _ = check("SELECT $");
    }
}
