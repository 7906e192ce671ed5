//! Strict, zero-copy reading of one JSON object: a stream record's top-level fields, each with the
//! exact text of its value.
//!
//! Stream records (Firehose, Kinesis) are small JSON objects, transformed by the thousand per
//! invocation. Building a DOM for each (`serde_json::Value`) costs more than the rest of the
//! transform together, and re-serialising it would rewrite values the transform never touches.
//! [`parse_object`] instead validates the whole record and returns its top-level fields as slices
//! of the input, so untouched values are copied through byte for byte.
//!
//! Invariants:
//! - **Strict**: a record is accepted exactly when it is valid UTF-8 and RFC 8259 JSON whose top
//!   level is an object: strings (escapes, surrogate pairs; no raw control characters), number
//!   grammar, the three literals, nesting up to [`MAX_DEPTH`], nothing but whitespace after the
//!   object. This agrees with serde_json's parser (property-tested), except that numbers beyond
//!   the f64 range are valid JSON here (their text is kept, never converted).
//! - **Zero-copy**: nothing is allocated while reading; escapes are resolved only on request
//!   ([`Field::key`], [`Field::str_value`]). Strings are scanned eight bytes at a time.
//! - [`Object::compact`] tells whether the object has no whitespace between its own tokens, so a
//!   writer may copy it in spans instead of token by token.
//! - [`write_str`] escapes exactly as serde_json does, and [`str_len`] is the length it writes, so
//!   response sizes can be computed before anything is written.

use std::borrow::Cow;

/// Deepest nesting accepted (serde_json's default recursion limit).
pub const MAX_DEPTH: usize = 128;

/// The JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Object,
    Array,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Object => "object",
            Kind::Array => "array",
        }
    }
}

/// One top-level field of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The key as written between its quotes (escapes unresolved when `key_escaped`).
    pub raw_key: &'a str,
    pub key_escaped: bool,
    /// The value's exact text; a string keeps its quotes.
    pub value: &'a str,
    pub kind: Kind,
    /// A string value with escapes in it.
    pub escaped: bool,
}

impl<'a> Field<'a> {
    /// The key with escapes resolved.
    pub fn key(&self) -> Cow<'a, str> {
        if self.key_escaped {
            Cow::Owned(unescape(self.raw_key))
        } else {
            Cow::Borrowed(self.raw_key)
        }
    }

    /// A string value's content with escapes resolved; `None` for other kinds.
    pub fn str_value(&self) -> Option<Cow<'a, str>> {
        if self.kind != Kind::String {
            return None;
        }
        let inner = &self.value[1..self.value.len() - 1];
        Some(if self.escaped {
            Cow::Owned(unescape(inner))
        } else {
            Cow::Borrowed(inner)
        })
    }
}

/// Why a record is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("not UTF-8 text (invalid byte at offset {0})")]
    Utf8(usize),
    #[error("empty (no JSON value)")]
    Empty,
    #[error("a JSON {0}, not an object")]
    NotObject(&'static str),
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax { offset: usize, what: &'static str },
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Where the object lies in the input, and whether it is written without whitespace between its
/// top-level tokens (nested values may still hold some).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    /// Offsets of `{` and one past `}`.
    pub start: usize,
    pub end: usize,
    pub compact: bool,
}

/// The byte offset of `part` (a slice of `whole`) in `whole`.
pub fn offset_in(whole: &[u8], part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// Reads `input` as one JSON object, appending its top-level fields (in order) to `out`.
/// Duplicate keys are returned as they are; deciding about them is the caller's business.
pub fn parse_object<'a>(input: &'a [u8], out: &mut Vec<Field<'a>>) -> Result<Object, JsonError> {
    let text = std::str::from_utf8(input).map_err(|e| JsonError::Utf8(e.valid_up_to()))?;
    let mut p = Reader { b: input, i: 0 };
    p.ws();
    let start = p.i;
    match p.peek() {
        None => return Err(JsonError::Empty),
        Some(b'{') => {}
        Some(_) => {
            let (kind, _) = p.value(1)?;
            p.end()?;
            return Err(JsonError::NotObject(kind.name()));
        }
    }
    let compact = p.fields(text, out)?;
    let end = p.i;
    p.end()?;
    Ok(Object {
        start,
        end,
        compact,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips whitespace; whether there was any.
    #[inline(always)]
    fn ws(&mut self) -> bool {
        // Most calls find a token right away.
        if self.b.get(self.i).is_none_or(|&c| c > b' ') {
            return false;
        }
        let start = self.i;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
        self.i != start
    }

    fn err(&self, what: &'static str) -> JsonError {
        JsonError::Syntax {
            offset: self.i,
            what,
        }
    }

    /// Only whitespace may follow the top-level value.
    fn end(&mut self) -> Result<(), JsonError> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(self.err("unexpected characters after the JSON value"))
        }
    }

    /// Moves to the next byte that is `"`, `\` or a control character (or to the end), eight
    /// bytes at a time: a byte's high bit in `mask` is set when it is one of those (the first
    /// set bit is exact; the borrow of the subtractions can only mark bytes after it).
    #[inline(always)]
    fn skip_plain(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let v = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let mask = (v.wrapping_sub(ONES * 0x20)
                | (v ^ (ONES * b'"' as u64)).wrapping_sub(ONES)
                | (v ^ (ONES * b'\\' as u64)).wrapping_sub(ONES))
                & !v
                & HIGH;
            if mask != 0 {
                self.i += (mask.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while let Some(&c) = self.b.get(self.i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return;
            }
            self.i += 1;
        }
    }

    /// At an opening quote: moves past the closing one; returns whether escapes occurred.
    #[inline(always)]
    fn string(&mut self) -> Result<bool, JsonError> {
        self.i += 1;
        let mut escaped = false;
        loop {
            self.skip_plain();
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            let cp = self.hex4(self.i + 1)?;
                            self.i += 5;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                let low = self.hex4(self.i + 2)?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                self.i += 6;
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return Err(self.err("unpaired surrogate in \\u escape"));
                            }
                        }
                        _ => return Err(self.err("invalid escape in string")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn hex4(&self, at: usize) -> Result<u32, JsonError> {
        let digits = self
            .b
            .get(at..at + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        digits.iter().try_fold(0u32, |acc, &c| {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\u escape"))?;
            Ok(acc * 16 + d)
        })
    }

    #[inline(always)]
    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    #[inline(always)]
    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number: no digits after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number: no digits in the exponent"));
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn literal(&mut self, lit: &'static [u8], kind: Kind) -> Result<(Kind, bool), JsonError> {
        if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            Ok((kind, false))
        } else {
            Err(self.err("expected a value"))
        }
    }

    /// The fields of the object at `{` (top level), appended to `out`; moves past `}`. Returns
    /// whether no whitespace separated its tokens.
    fn fields<'a>(&mut self, text: &'a str, out: &mut Vec<Field<'a>>) -> Result<bool, JsonError> {
        self.i += 1;
        let mut compact = !self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(compact);
        }
        loop {
            compact &= !self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a field name"));
            }
            let key_start = self.i + 1;
            let key_escaped = self.string()?;
            let raw_key = &text[key_start..self.i - 1];
            compact &= !self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            compact &= !self.ws();
            let value_start = self.i;
            let (kind, escaped) = self.value(1)?;
            out.push(Field {
                raw_key,
                key_escaped,
                value: &text[value_start..self.i],
                kind,
                escaped,
            });
            compact &= !self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(compact);
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    /// Any value at `depth` (the top-level object's fields are at depth 1).
    #[inline(always)]
    fn value(&mut self, depth: usize) -> Result<(Kind, bool), JsonError> {
        match self.peek() {
            Some(b'"') => Ok((Kind::String, self.string()?)),
            Some(b'{') => {
                self.container(depth + 1, b'}')?;
                Ok((Kind::Object, false))
            }
            Some(b'[') => {
                self.container(depth + 1, b']')?;
                Ok((Kind::Array, false))
            }
            Some(b't') => self.literal(b"true", Kind::Bool),
            Some(b'f') => self.literal(b"false", Kind::Bool),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Ok((Kind::Number, false))
            }
            None => Err(self.err("unexpected end of input")),
            Some(_) => Err(self.err("expected a value")),
        }
    }

    /// An object (`close` = `}`) or array (`]`) at its opening bracket.
    fn container(&mut self, depth: usize, close: u8) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if close == b'}' {
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a field name"));
                }
                self.string()?;
                self.ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected ':'"));
                }
                self.i += 1;
                self.ws();
            }
            self.value(depth)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => {
                    return Err(self.err(if close == b'}' {
                        "expected ',' or '}'"
                    } else {
                        "expected ',' or ']'"
                    }));
                }
            }
        }
    }
}

/// Resolves the escapes of a string's content (which [`parse_object`] validated).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().map(|(_, c)| c) {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex = |at: usize| u32::from_str_radix(&s[at..at + 4], 16).unwrap_or(0xFFFD);
                let hi = hex(i + 2);
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex(i + 8);
                    for _ in 0..10 {
                        chars.next();
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    for _ in 0..4 {
                        chars.next();
                    }
                    hi
                };
                out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other), // `"`, `\`, `/`
            None => {}
        }
    }
    out
}

/// The escape serde_json writes for a byte, if any.
#[inline]
fn escape_of(b: u8) -> Option<&'static [u8]> {
    Some(match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\x08' => b"\\b",
        b'\x0c' => b"\\f",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0..=0x1f => b"\\u00",
        _ => return None,
    })
}

/// Writes `s` as a JSON string (with quotes), escaped exactly as serde_json escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if let Some(esc) = escape_of(b) {
            out.extend_from_slice(&s.as_bytes()[start..i]);
            out.extend_from_slice(esc);
            if esc == b"\\u00" {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
            }
            start = i + 1;
        }
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
}

/// [`write_str`] into a `String`.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if let Some(esc) = escape_of(b) {
            out.push_str(&s[start..i]);
            // Escapes are ASCII.
            out.push_str(std::str::from_utf8(esc).expect("ASCII"));
            if esc == b"\\u00" {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
            start = i + 1;
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The number of bytes [`write_str`] (and serde_json) writes for `s`, quotes included.
pub fn str_len(s: &str) -> usize {
    // Almost every string needs no escape: count those bytes branch-free first.
    if s.bytes().fold(0u32, |n, b| {
        n | u32::from(b < 0x20 || b == b'"' || b == b'\\')
    }) == 0
    {
        return s.len() + 2;
    }
    2 + s
        .bytes()
        .map(|b| escape_of(b).map_or(1, |e| if e == b"\\u00" { 6 } else { 2 }))
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(s: &str) -> Result<Vec<Field<'_>>, JsonError> {
        let mut out = Vec::new();
        parse_object(s.as_bytes(), &mut out).map(|_| out)
    }

    #[test]
    fn knows_where_the_object_is_and_whether_it_is_compact() {
        let obj = |s: &str| parse_object(s.as_bytes(), &mut Vec::new()).unwrap();
        assert_eq!(
            obj(" {\"a\":[1, 2],\"b\":{}} \n"),
            Object {
                start: 1,
                end: 20,
                compact: true
            }
        );
        for spaced in [
            "{ \"a\":1}",
            "{\"a\" :1}",
            "{\"a\": 1}",
            "{\"a\":1 }",
            "{\"a\":1, \"b\":2}",
            "{ }",
        ] {
            assert!(!obj(spaced).compact, "{spaced}");
        }
        assert!(obj("{}").compact);
        let text = "{\"key\":\"value\"}";
        let mut f = Vec::new();
        parse_object(text.as_bytes(), &mut f).unwrap();
        assert_eq!(offset_in(text.as_bytes(), f[0].raw_key), 2);
        assert_eq!(
            offset_in(text.as_bytes(), f[0].value),
            7,
            "a string value keeps its quotes"
        );
    }

    #[test]
    fn strings_of_every_length_and_special_byte_position() {
        // The eight-byte scan: a special byte at every offset, in strings of many lengths.
        for len in 0..24 {
            for at in 0..len {
                for (special, valid) in [
                    (b'"', false),
                    (b'\\', false),
                    (0x01u8, false),
                    (b'a', true),
                    (0xc3, false),
                ] {
                    let mut s = vec![b'x'; len];
                    s[at] = special;
                    let doc = [b"{\"k\":\"".as_slice(), &s, b"\"}"].concat();
                    let ours = parse_object(&doc, &mut Vec::new()).is_ok();
                    let serde = serde_json::from_slice::<serde_json::Value>(&doc).is_ok();
                    assert_eq!(ours, serde, "{:?}", String::from_utf8_lossy(&doc));
                    assert_eq!(ours, valid);
                }
            }
        }
    }

    #[test]
    fn reads_top_level_fields_with_exact_value_text() {
        let rec = r#" {"a": 1.50, "b" :"x\"y", "c":{"d":[1,{"e":null}]}, "d\u00e9":true,"e":[] } "#;
        let f = fields(rec).unwrap();
        let keys: Vec<_> = f.iter().map(|f| f.key().into_owned()).collect();
        assert_eq!(keys, ["a", "b", "c", "dé", "e"]);
        assert_eq!(f[0].value, "1.50");
        assert_eq!(f[0].kind, Kind::Number);
        assert_eq!(f[1].value, r#""x\"y""#);
        assert_eq!(f[1].str_value().unwrap(), "x\"y");
        assert!(f[1].escaped && !f[0].escaped);
        assert_eq!(f[2].value, r#"{"d":[1,{"e":null}]}"#);
        assert_eq!(f[2].kind, Kind::Object);
        assert!(f[3].key_escaped);
        assert_eq!((f[3].kind, f[3].value), (Kind::Bool, "true"));
        assert_eq!((f[4].kind, f[4].value), (Kind::Array, "[]"));
        assert_eq!(fields("{}").unwrap(), vec![]);
        assert_eq!(
            fields(r#"{"s":"\ud83d\ude00 \u00e9\n"}"#).unwrap()[0]
                .str_value()
                .unwrap(),
            "😀 é\n"
        );
    }

    #[test]
    fn rejects_what_is_not_a_json_object() {
        assert_eq!(fields(""), Err(JsonError::Empty));
        assert_eq!(fields("  \n"), Err(JsonError::Empty));
        assert_eq!(fields("[1,2]"), Err(JsonError::NotObject("array")));
        assert_eq!(fields("\"x\""), Err(JsonError::NotObject("string")));
        assert_eq!(fields("42"), Err(JsonError::NotObject("number")));
        for bad in [
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":tru}",
            "{\"a\":\"x}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":[1 2]}",
            "{\"a\":1} {\"b\":2}",
            "{\"a\":1}x",
            "{a:1}",
            "{\"a\":NaN}",
        ] {
            let got = fields(bad);
            assert!(
                matches!(got, Err(JsonError::Syntax { .. })),
                "{bad:?}: {got:?}"
            );
        }
        assert_eq!(
            parse_object(b"{\"a\":\"\xff\"}", &mut Vec::new()),
            Err(JsonError::Utf8(6))
        );
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(fields(&deep), Err(JsonError::TooDeep));
        let ok = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(fields(&ok).is_ok());
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "q\"b\\s/",
            "ctl\u{1}\u{1f}\n\r\t\u{8}\u{c}",
            "é😀\u{7f}",
            "",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
            assert_eq!(str_len(s), out.len());
            let mut text = String::new();
            push_str(&mut text, s);
            assert_eq!(text.as_bytes(), out);
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            "[\"\\\\/\u{0}-\u{1f}a-z]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z\"é]{0,4}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Valid documents: every field is found with a value text that parses back to the value.
        #[test]
        fn agrees_with_serde_on_valid_objects(
            kv in prop::collection::vec(("[a-z_\"\\\\é]{0,5}", json_value()), 0..6),
            pretty in any::<bool>(),
        ) {
            let obj = serde_json::Value::Object(kv.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&obj) } else { serde_json::to_string(&obj) }.unwrap();
            let got = fields(&text).unwrap();
            let map = obj.as_object().unwrap();
            prop_assert_eq!(got.len(), map.len());
            for (f, (k, v)) in got.iter().zip(map) {
                prop_assert_eq!(&f.key(), k);
                // Both sides through serde's parser (its float parsing is not exact).
                let back: serde_json::Value = serde_json::from_str(f.value).unwrap();
                let want: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
                prop_assert_eq!(back, want);
                if let Some(s) = f.str_value() {
                    prop_assert_eq!(Some(s.as_ref()), v.as_str());
                }
            }
        }

        /// Corrupted documents: accepted exactly when serde_json accepts an object.
        #[test]
        fn agrees_with_serde_on_corrupted_input(
            kv in prop::collection::vec(("[a-z]{0,3}", json_value()), 0..4),
            edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(
                vec![b'"', b'\\', b',', b':', b'{', b'}', b'[', b']', b'0', b'-', b'.', b'e', b'u', b' ', b'x', 0x01, 0xc3]
            ), any::<bool>()), 1..3),
        ) {
            let mut text = serde_json::to_vec(&serde_json::Value::Object(kv.into_iter().collect())).unwrap();
            for (at, byte, insert) in edits {
                let i = at.index(text.len() + 1);
                if insert || i == text.len() { text.insert(i, byte) } else { text[i] = byte }
            }
            let ours = parse_object(&text, &mut Vec::new()).is_ok();
            let serde = serde_json::from_slice::<serde_json::Value>(&text);
            let theirs = matches!(serde, Ok(serde_json::Value::Object(_)));
            let out_of_range = serde.as_ref().err().is_some_and(|e| e.to_string().contains("out of range"));
            if !out_of_range {
                prop_assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&text));
            }
        }
    }
}
