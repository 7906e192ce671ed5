//! Unit tests of `dynamo`.

use super::*;
use tributary::catalog::memtable;

/// Evaluates a rendered condition expression the way DynamoDB reads it (an independent
/// parser of the grammar `Expr` emits: `OR` binds looser than `AND`, parentheses, the two
/// attribute functions and `=`, `<`, `>=`).
struct Eval<'a> {
    tokens: Vec<String>,
    at: usize,
    names: &'a HashMap<String, String>,
    values: &'a HashMap<String, AttributeValue>,
    item: Option<&'a Item>,
}

impl Eval<'_> {
    fn next(&mut self) -> String {
        self.at += 1;
        self.tokens[self.at - 1].clone()
    }
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }
    fn or(&mut self) -> bool {
        let mut v = self.and();
        while self.peek() == Some("OR") {
            self.next();
            v |= self.and();
        }
        v
    }
    fn and(&mut self) -> bool {
        let mut v = self.factor();
        while self.peek() == Some("AND") {
            self.next();
            v &= self.factor();
        }
        v
    }
    fn attr(&self, placeholder: &str) -> Option<&Attr> {
        self.item.and_then(|i| i.get(&self.names[placeholder]))
    }
    fn factor(&mut self) -> bool {
        let t = self.next();
        match t.as_str() {
            "(" => {
                let v = self.or();
                assert_eq!(self.next(), ")");
                v
            }
            "attribute_exists" | "attribute_not_exists" => {
                assert_eq!(self.next(), "(");
                let n = self.next();
                assert_eq!(self.next(), ")");
                self.attr(&n).is_some() == (t == "attribute_exists")
            }
            name => {
                let op = self.next();
                let v = from_av(&self.values[&self.next()]).unwrap();
                let ord = match (self.attr(name), &v) {
                    (Some(Attr::S(a)), Attr::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
                    (Some(Attr::N(a)), Attr::N(b)) => a
                        .parse::<f64>()
                        .unwrap()
                        .partial_cmp(&b.parse::<f64>().unwrap()),
                    _ => None,
                };
                use std::cmp::Ordering::*;
                match op.as_str() {
                    "=" => ord == Some(Equal),
                    "<" => ord == Some(Less),
                    ">=" => matches!(ord, Some(Greater | Equal)),
                    other => panic!("operator {other}"),
                }
            }
        }
    }
}

fn rendered_holds(c: &Cond, item: Option<&Item>) -> bool {
    let mut expr = Expr::default();
    let text = expr.condition(c);
    let names = expr.names().unwrap_or_default();
    let values = expr.values().unwrap_or_default();
    let tokens = text
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut e = Eval {
        tokens,
        at: 0,
        names: &names,
        values: &values,
        item,
    };
    let v = e.or();
    assert_eq!(e.at, e.tokens.len(), "all of {text} parsed");
    v
}

#[test]
fn rendered_conditions_hold_exactly_when_memtable_says() {
    let (s, n) = (Attr::s, |v: i64| Attr::n(v));
    // Every condition the domain writes, and nestings of both connectives.
    let conds = vec![
        Cond::item_absent(),
        Cond::item_present(),
        Cond::item_present().and(Cond::not_exists("version")),
        Cond::eq("version", n(3)),
        Cond::not_exists("c07"),
        Cond::eq("c07", s("a\tx")),
        Cond::item_absent()
            .or(Cond::lt("expires_ms", n(100)))
            .or(Cond::eq("owner", s("me"))),
        Cond::eq("owner", s("me")).and(Cond::ge("expires_ms", n(100))),
        Cond::eq("generation", n(2)),
        Cond::eq("owner", s("me"))
            .or(Cond::ge("expires_ms", n(100)).and(Cond::lt("expires_ms", n(200)))),
        Cond::exists("owner").and(Cond::lt("owner", s("n")).or(Cond::eq("version", n(3)))),
    ];
    let key = tributary::catalog::keys::lease("t");
    let items: Vec<Option<Item>> = vec![
        None,
        Some(key.item([])),
        Some(key.item([("version", n(3)), ("c07", s("a\tx"))])),
        Some(key.item([("version", n(30)), ("c07", s("b"))])),
        Some(key.item([("owner", s("me")), ("expires_ms", n(99))])),
        Some(key.item([("owner", s("you")), ("expires_ms", n(100))])),
        Some(key.item([
            ("owner", s("me")),
            ("expires_ms", n(250)),
            ("generation", n(2)),
        ])),
        // Types that differ from the condition's value never compare.
        Some(key.item([("version", s("3")), ("expires_ms", s("1"))])),
    ];
    let mut held = 0;
    for c in &conds {
        for item in &items {
            let want = memtable::eval(c, item.as_ref());
            assert_eq!(rendered_holds(c, item.as_ref()), want, "{c:?} on {item:?}");
            held += usize::from(want);
        }
    }
    // Both outcomes occur: the comparison is not vacuous.
    assert!(held > 0 && held < conds.len() * items.len());
}

#[test]
fn updates_projections_and_filters_use_placeholders() {
    let mut e = Expr::default();
    let u = e.update(&[
        UpdateAction::set("location", Attr::s("s3://b/x/")),
        UpdateAction::set_if_absent("schema", Attr::s("{}")),
        UpdateAction::add("row_count", 5),
        UpdateAction::remove("c03"),
    ]);
    assert_eq!(
        u,
        "SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1) ADD #n2 :v2 REMOVE #n3"
    );
    let names = e.names().unwrap();
    assert_eq!(names["#n0"], "location");
    assert_eq!(names["#n3"], "c03");
    assert_eq!(e.values().unwrap()[":v2"], AttributeValue::N("5".into()));

    let mut e = Expr::default();
    assert_eq!(e.projection(&["c05", "pk"]), "#n0, #n1, #n2");
    assert_eq!(e.names().unwrap()["#n2"], "c05");
    assert!(e.values().is_none());

    let mut e = Expr::default();
    let f = e.scan_filter(&ScanFilter {
        pk_prefix: tributary::catalog::keys::DATASET_PREFIX.into(),
        sk_in: vec!["declaration".into(), "stats".into()],
    });
    assert_eq!(f, "begins_with(#n0, :v0) AND (#n1 = :v1 OR #n1 = :v2)");
    assert!(Expr::default().names().is_none());
}

#[test]
fn attributes_convert_both_ways_and_foreign_types_read_as_absent() {
    for a in [Attr::s("x"), Attr::n(-12)] {
        assert_eq!(from_av(&to_av(&a)), Some(a));
    }
    let raw = HashMap::from([
        ("pk".to_string(), AttributeValue::S("p".into())),
        ("flag".to_string(), AttributeValue::Bool(true)),
    ]);
    let item = from_item(&raw);
    assert_eq!(item.len(), 1);
    let key = Key::new("a", "b");
    assert_eq!(Key::of(&from_item(&key_av(&key))), Some(key));
}

#[test]
fn backoff_is_bounded_exponential_and_jittered() {
    let mut b = Backoff::default();
    let mut delays = vec![];
    while let Some(d) = b.next_delay() {
        delays.push(d);
    }
    assert_eq!(delays.len() as u32, MAX_ATTEMPTS - 1);
    for (i, d) in delays.iter().enumerate() {
        assert!(
            *d <= (BASE_DELAY * (1 << i)).min(MAX_DELAY),
            "delay {i}: {d:?}"
        );
    }
    assert_eq!(b.next_delay(), None);
    // Full jitter: delays are spread, not fixed.
    let spread: BTreeSet<Duration> = (0..20)
        .filter_map(|_| Backoff::default().next_delay())
        .collect();
    assert!(spread.len() > 1);
}
