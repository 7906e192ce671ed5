//! Unit tests of `api`.

use super::*;

#[test]
fn group_claims_in_every_form() {
    for v in [
        json!(["a", "b"]),
        json!("[a b]"),
        json!("a,b"),
        json!("[\"a\",\"b\"]"),
        json!("a b"),
    ] {
        assert_eq!(
            claim_list(&v),
            vec!["a".to_string(), "b".to_string()],
            "{v}"
        );
    }
    assert!(claim_list(&json!("[]")).is_empty());
}

#[test]
fn routes_tolerate_a_stage_and_decode_ids() {
    assert!(
        matches!(route("/datasets/sales.orders").unwrap().0, Route::Dataset(id) if id == "sales.orders")
    );
    assert!(
        matches!(route("/prod/datasets/a%2Eb/schema").unwrap().0, Route::Schema(id) if id == "a.b")
    );
    assert_eq!(route("/nope").err().unwrap().status, 404);
    assert_eq!(
        route("/datasets/%zz").err().unwrap().field.as_deref(),
        Some("id")
    );
}

#[test]
fn metadata_validation_names_the_field() {
    let bad = |u: MetadataUpdate| u.validate().unwrap_err().field.unwrap();
    assert_eq!(
        bad(MetadataUpdate {
            sensitivity: Some("secret".into()),
            ..Default::default()
        }),
        "sensitivity"
    );
    assert_eq!(
        bad(MetadataUpdate {
            tags: Some(vec!["ok".into(), "Not Ok".into()]),
            ..Default::default()
        }),
        "tags[1]"
    );
    assert_eq!(bad(MetadataUpdate::default()), "body");
    assert!(
        MetadataUpdate {
            name: Some("Orders".into()),
            tags: Some(vec!["sales".into()]),
            ..Default::default()
        }
        .validate()
        .is_ok()
    );
}
