//! Lambda function references as Lambda's `Invoke` takes them in `FunctionName` (AWS Lambda
//! API reference, "Invoke", "Name formats"; the grammar is that of Lambda's service model,
//! API version 2015-03-31: the shapes `NamespacedFunctionName`, `FunctionName`, `Version` and
//! `Alias`):
//!
//! | form | example |
//! | --- | --- |
//! | function name | `my-function` |
//! | partial ARN | `123456789012:function:my-function` |
//! | function ARN | `arn:aws:lambda:us-west-2:123456789012:function:my-function` |
//!
//! each optionally followed by `:QUALIFIER`: a version (`$LATEST`, `$LATEST.PUBLISHED` or a
//! number) or an alias (`prod`: 1 to 128 letters, digits, `-` and `_`). The function's own
//! name is 1 to 64 letters, digits, `-` and `_`, as CreateFunction's `FunctionName` allows: no
//! function can have another name, so anything else is refused at submit rather than failing
//! at delivery. A region is Lambda's `(eusc-)?[a-z]{2}((-gov)|(-iso[a-z]?))?-[a-z]+-[0-9]`, a
//! partition `aws` followed by letters and `-`, an account 12 digits.
//!
//! Allow patterns (`CALLBACK_LAMBDA_ALLOW`) are references with `*` and `?` wildcards within
//! a segment: [`check_pattern`].

/// The forms a reference may take, for messages.
pub const FORMS: &str = "a Lambda function is named `NAME`, `ACCOUNT:function:NAME` or \
     `arn:aws:lambda:REGION:ACCOUNT:function:NAME`, each optionally followed by `:VERSION` or `:ALIAS`";

/// The longest function name (CreateFunction's `FunctionName`), in characters.
pub const MAX_NAME: usize = 64;
/// The longest qualifier (Lambda's `Alias`), in characters.
pub const MAX_QUALIFIER: usize = 128;

/// A checked reference to a Lambda function, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionRef<'a> {
    /// The reference as given.
    pub text: &'a str,
    /// The reference without its qualifier: what an allow pattern without a qualifier matches.
    pub function: &'a str,
    /// The function's name (`my-function`).
    pub name: &'a str,
    /// The version or alias, when one is given.
    pub qualifier: Option<&'a str>,
}

/// What kind of segment a position holds, and how to judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Literal(&'static str),
    Partition,
    Region,
    Account,
    Name,
    Qualifier,
}

/// The segments of each form, with and without a qualifier, by their number.
fn layout(segments: usize) -> Option<&'static [Part]> {
    use Part::*;
    const NAME: [Part; 2] = [Name, Qualifier];
    const PARTIAL: [Part; 4] = [Account, Literal("function"), Name, Qualifier];
    const ARN: [Part; 8] = [
        Literal("arn"),
        Partition,
        Literal("lambda"),
        Region,
        Account,
        Literal("function"),
        Name,
        Qualifier,
    ];
    match segments {
        1 | 2 => Some(&NAME[..segments]),
        3 | 4 => Some(&PARTIAL[..segments]),
        7 | 8 => Some(&ARN[..segments]),
        _ => None,
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// `text` as a message may show it: control characters and other invisible ones escaped.
fn shown(text: &str) -> String {
    text.escape_debug().to_string()
}

/// The first character of `text` that `allowed` refuses, as a message names it.
fn stray(text: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    text.chars().find(|c| !allowed(*c)).map(|c| match c {
        c if c.is_control() || c.is_whitespace() => format!("U+{:04X}", c as u32),
        c => format!("`{c}`"),
    })
}

/// Whether `region` is a region as Lambda's grammar writes it (`us-east-1`, `us-gov-west-1`,
/// `us-isob-east-1`, `eusc-de-east-1`).
fn is_region(region: &str) -> bool {
    let region = region.strip_prefix("eusc-").unwrap_or(region);
    let Some((country, rest)) = region.split_at_checked(2) else {
        return false;
    };
    let tail_ok = |tail: &str| {
        tail.strip_prefix('-')
            .and_then(|t| t.rsplit_once('-'))
            .is_some_and(|(area, number)| {
                !area.is_empty()
                    && area.bytes().all(|b| b.is_ascii_lowercase())
                    && number.len() == 1
                    && number.bytes().all(|b| b.is_ascii_digit())
            })
    };
    let iso = rest.strip_prefix("-iso").map(|r| {
        // `-iso` and at most one more letter.
        match r.as_bytes().first() {
            Some(b) if b.is_ascii_lowercase() => vec![r, &r[1..]],
            _ => vec![r],
        }
    });
    country.bytes().all(|b| b.is_ascii_lowercase())
        && (tail_ok(rest)
            || rest.strip_prefix("-gov").is_some_and(tail_ok)
            || iso.is_some_and(|candidates| candidates.into_iter().any(tail_ok)))
}

/// Judges one segment (without wildcards) as `part`; the message says what is wrong.
fn check_part(part: Part, segment: &str) -> Result<(), String> {
    match part {
        Part::Literal(word) if segment == word => Ok(()),
        Part::Literal(word) => Err(format!("`{}` stands where `{word}` belongs", shown(segment))),
        Part::Partition => match segment.strip_prefix("aws") {
            Some(rest) if rest.chars().all(|c| c.is_ascii_alphabetic() || c == '-') => Ok(()),
            _ => Err(format!(
                "the partition `{}` is not an AWS partition (`aws`, `aws-cn`, `aws-us-gov`, …)",
                shown(segment)
            )),
        },
        Part::Region if is_region(segment) => Ok(()),
        Part::Region => Err(format!(
            "the region `{}` is not an AWS region (such as `us-east-1`)",
            shown(segment)
        )),
        Part::Account if segment.len() == 12 && segment.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Part::Account => Err(format!(
            "the account `{}` is not an AWS account id (12 digits)",
            shown(segment)
        )),
        Part::Name => {
            let problem = if segment.is_empty() {
                Some("is empty".to_owned())
            } else if let Some(c) = stray(segment, is_name_char) {
                Some(format!("holds {c}"))
            } else if segment.chars().count() > MAX_NAME {
                Some(format!("is longer than {MAX_NAME} characters"))
            } else {
                None
            };
            match problem {
                None => Ok(()),
                Some(problem) => Err(format!(
                    "the function name `{}` {problem}; a function name is 1 to {MAX_NAME} letters, \
                     digits, `-` and `_`",
                    shown(segment)
                )),
            }
        }
        Part::Qualifier => {
            let latest = matches!(segment, "$LATEST" | "$LATEST.PUBLISHED");
            let ok = latest
                || (!segment.is_empty()
                    && segment.chars().count() <= MAX_QUALIFIER
                    && segment.chars().all(is_name_char));
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "the qualifier `{}` is neither a version (`$LATEST` or a number) nor an alias \
                     (1 to {MAX_QUALIFIER} letters, digits, `-` and `_`)",
                    shown(segment)
                ))
            }
        }
    }
}

impl<'a> FunctionRef<'a> {
    /// Checks `text` against Lambda's grammar (see the module's documentation).
    ///
    /// Errors: a message naming the reference (escaped, so a control character is visible and
    /// never reaches a log line raw) and what is wrong with it: a control or space character,
    /// a part that is not what its place wants (the name, the qualifier, the region, the
    /// account, the partition, `lambda`, `function`), or the number of `:`-separated parts.
    pub fn parse(text: &'a str) -> Result<Self, String> {
        let refused = |why: String| format!("`{}` is not a Lambda function: {why}; {FORMS}", shown(text));
        if text.trim().is_empty() {
            return Err("is empty; give a function name or ARN".into());
        }
        if let Some(c) = stray(text, |c| !c.is_control() && !c.is_whitespace()) {
            return Err(refused(format!(
                "it holds {c}, which no function name or ARN holds"
            )));
        }
        let segments: Vec<&str> = text.split(':').collect();
        let Some(parts) = layout(segments.len()) else {
            return Err(refused(format!(
                "it has {} `:`-separated parts, which no form has",
                segments.len()
            )));
        };
        for (part, segment) in parts.iter().zip(&segments) {
            check_part(*part, segment).map_err(refused)?;
        }
        let qualified = matches!(segments.len(), 2 | 4 | 8);
        let qualifier = qualified.then(|| segments[segments.len() - 1]);
        let function = match qualifier {
            Some(q) => &text[..text.len() - q.len() - 1],
            None => text,
        };
        let name_at = parts.iter().position(|p| *p == Part::Name).unwrap_or(0);
        Ok(Self {
            text,
            function,
            name: segments[name_at],
            qualifier,
        })
    }
}

/// Checks an allow pattern (`CALLBACK_LAMBDA_ALLOW`): a reference in one of the forms above in
/// which `*` and `?` stand for any characters within one segment
/// (`arn:aws:lambda:*:123456789012:function:processor-*`, `processor-?`, `*`). A segment with a
/// wildcard may hold only the characters its place allows besides.
///
/// Errors: a message naming the pattern and what is wrong, as [`FunctionRef::parse`].
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let refused = |why: String| {
        format!(
            "`{}` is not a Lambda function pattern: {why}; {FORMS}, with `*` and `?` within a segment",
            shown(pattern)
        )
    };
    if let Some(c) = stray(pattern, |c| !c.is_control() && !c.is_whitespace()) {
        return Err(refused(format!("it holds {c}")));
    }
    let segments: Vec<&str> = pattern.split(':').collect();
    let Some(parts) = layout(segments.len()) else {
        return Err(refused(format!(
            "it has {} `:`-separated parts, which no form has",
            segments.len()
        )));
    };
    for (part, segment) in parts.iter().zip(&segments) {
        if !segment.contains(['*', '?']) {
            check_part(*part, segment).map_err(refused)?;
            continue;
        }
        let allowed = |c: char| match part {
            Part::Literal(word) => word.contains(c),
            Part::Partition => c.is_ascii_alphabetic() || c == '-',
            Part::Region => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
            Part::Account => c.is_ascii_digit(),
            Part::Name => is_name_char(c),
            Part::Qualifier => is_name_char(c) || c == '$' || c == '.',
        };
        if let Some(c) = stray(segment, |c| c == '*' || c == '?' || allowed(c)) {
            return Err(refused(format!(
                "its segment `{}` holds {c}, which no function's can",
                shown(segment)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:processor-a";

    #[test]
    fn every_documented_form_parses_with_and_without_a_qualifier() {
        // GIVEN the three forms of Lambda's Invoke, bare and qualified
        for (text, function, name, qualifier) in [
            ("processor-a", "processor-a", "processor-a", None),
            ("processor-a:prod", "processor-a", "processor-a", Some("prod")),
            ("My_Function-1:7", "My_Function-1", "My_Function-1", Some("7")),
            (
                "123456789012:function:processor-a",
                "123456789012:function:processor-a",
                "processor-a",
                None,
            ),
            (
                "123456789012:function:processor-a:$LATEST",
                "123456789012:function:processor-a",
                "processor-a",
                Some("$LATEST"),
            ),
            (ARN, ARN, "processor-a", None),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:processor-a:prod",
                ARN,
                "processor-a",
                Some("prod"),
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:processor-a:$LATEST",
                ARN,
                "processor-a",
                Some("$LATEST"),
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:processor-a:$LATEST.PUBLISHED",
                ARN,
                "processor-a",
                Some("$LATEST.PUBLISHED"),
            ),
        ] {
            // WHEN parsed THEN its function and qualifier are told apart
            let parsed = FunctionRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (parsed.text, parsed.function, parsed.name, parsed.qualifier),
                (text, function, name, qualifier)
            );
        }
    }

    #[test]
    fn regions_and_partitions_follow_lambdas_grammar() {
        for region in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "cn-north-1",
            "eusc-de-east-1",
            "il-central-1",
        ] {
            assert!(is_region(region), "{region}");
        }
        for region in [
            "",
            "us",
            "us-east",
            "us-east-12",
            "US-EAST-1",
            "us-east-1a",
            "use1",
            "us--1",
            "u-east-1",
            "us-isobb-east-1",
        ] {
            assert!(!is_region(region), "{region}");
        }
        for partition in ["aws", "aws-cn", "aws-us-gov", "aws-iso-b"] {
            let text = format!("arn:{partition}:lambda:us-east-1:123456789012:function:f");
            assert!(FunctionRef::parse(&text).is_ok(), "{text}");
        }
    }

    #[test]
    fn what_no_function_can_be_named_is_refused_saying_what_is_wrong() {
        let base = "arn:aws:lambda:us-east-1:123456789012:function:";
        for (text, wrong) in [
            (format!("{base}processor-*"), "holds `*`"),
            (format!("{base}processor-a/../other"), "holds `/`"),
            (format!("{base}processor-\0"), "U+0000"),
            (format!("{base}processor-a\n"), "U+000A"),
            (format!("{base}processor a"), "U+0020"),
            (format!("{base}processor.a"), "holds `.`"),
            (format!("{base}{}", "a".repeat(65)), "longer than 64"),
            (base.to_string(), "the function name `` is empty"),
            (format!("{base}f:prod.1"), "the qualifier `prod.1`"),
            (format!("{base}f:"), "the qualifier ``"),
            (format!("{base}f:{}", "a".repeat(129)), "the qualifier"),
            (format!("{base}f:$latest"), "the qualifier `$latest`"),
            (
                "arn:aws:lambda:us-east-1:12345678901:function:f".into(),
                "account `12345678901`",
            ),
            (
                "arn:aws:lambda:moon-1:123456789012:function:f".into(),
                "region `moon-1`",
            ),
            (
                "arn:gcp:lambda:us-east-1:123456789012:function:f".into(),
                "partition `gcp`",
            ),
            (
                "arn:aws:s3:us-east-1:123456789012:function:f".into(),
                "`s3` stands where `lambda`",
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:layer:f".into(),
                "`layer` stands where `function`",
            ),
            ("a:b:c:d:e".into(), "5 `:`-separated parts"),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:f:1:2".into(),
                "9 `:`-separated",
            ),
        ] {
            let error = FunctionRef::parse(&text).expect_err(&text);
            assert!(error.contains(wrong), "{text:?}: {error}");
            assert!(!error.contains('\0') && !error.contains('\n'), "{error:?}");
            if error.starts_with('`') {
                assert!(error.contains(FORMS), "{error}");
            }
        }
        assert!(FunctionRef::parse(" ").unwrap_err().contains("is empty"));
        // A name of exactly 64 characters and an alias of exactly 128 are Lambda's limits.
        assert!(FunctionRef::parse(&format!("{}:{}", "a".repeat(64), "b".repeat(128))).is_ok());
    }

    #[test]
    fn allow_patterns_take_wildcards_within_segments_only() {
        for pattern in [
            "*",
            "processor-?",
            "processor-*:prod",
            "arn:aws:lambda:*:123456789012:function:processor-*",
            "arn:aws:lambda:*:*:function:processor-*",
            "arn:aws:lambda:us-east-1:123456789012:function:processor-a:*",
            "arn:aws*:lambda:*:123456789012:function:*",
            "123456789012:function:*",
        ] {
            assert_eq!(check_pattern(pattern), Ok(()), "{pattern}");
        }
        for (pattern, wrong) in [
            ("arn:aws:lambda:*:123456789012:function:processor/*", "holds `/`"),
            ("arn:aws:lambda:*:123456789012:function:processor-* ", "U+0020"),
            (
                "arn:aws:lambda:*:12345678901x:function:*",
                "account `12345678901x`",
            ),
            ("arn:aws:lambda:*:1234567890x*:function:*", "holds `x`"),
            ("arn:aws:lambda:*:123456789012:function", "6 `:`-separated"),
            (
                "arn:aws:lambda:us-east-1:123456789012:fn:*",
                "`fn` stands where `function`",
            ),
            ("processor-a\n", "U+000A"),
        ] {
            let error = check_pattern(pattern).expect_err(pattern);
            assert!(error.contains(wrong), "{pattern:?}: {error}");
        }
    }
}
