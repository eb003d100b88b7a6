//! `wardwatchctl catalog` as a data scientist and an admin use it, after a
//! sync to the embedded folder target: searches with their matched
//! columns and facets, roles, the audit trail, annotations, and an index
//! lost and rebuilt.

use std::process::Output;

use serde_json::Value;

use crate::lake::ward_with_records;
use crate::{ctl, ctl_as, private_tempdir, pw_file, stderr, stdout};

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

#[test]
fn a_data_scientist_finds_columns_partitions_and_history_and_a_lost_index_is_rebuilt() {
    let home = private_tempdir();
    let dir = home.path().join("data");
    ward_with_records(&dir, 30);
    ok(ctl(&dir, &["sync", "run", "--once", "--flush"]));
    let refreshed = ok(ctl(&dir, &["catalog", "refresh"]));
    assert!(refreshed.contains("built"), "{refreshed}");
    assert!(
        refreshed.contains("8 dataset manifests written"),
        "{refreshed}"
    );
    let again = ok(ctl(&dir, &["catalog", "refresh"]));
    assert!(again.contains("0 dataset manifests written"), "{again}");
    assert!(dir.join("lake/_catalog/curated/scores").is_dir());
    let before_note = chrono::Utc::now().to_rfc3339();
    ok(ctl(
        &dir,
        &[
            "users",
            "add",
            "sci",
            "--role",
            "data",
            "--new-password-file",
            pw_file(),
        ],
    ));
    ok(ctl(
        &dir,
        &[
            "users",
            "add",
            "nurse",
            "--role",
            "clinician",
            "--new-password-file",
            pw_file(),
        ],
    ));

    // Which tables have a spo2 column: the patients table, with the column.
    let text = ok(ctl_as(
        &dir,
        "sci",
        &["catalog", "search", "kind:dataset column:spo2"],
    ));
    assert!(text.starts_with("1 matches"), "{text}");
    assert!(text.contains("dataset   curated/patients"), "{text}");
    assert!(text.contains("column spo2_scale int"), "{text}");
    let json: Value = serde_json::from_str(&ok(ctl_as(
        &dir,
        "sci",
        &[
            "catalog", "search", "zone:raw", "--json", "--facets", "--limit", "100",
        ],
    )))
    .expect("json");
    let hits = json["hits"].as_array().expect("hits");
    assert_eq!(json["total"].as_u64(), Some(hits.len() as u64));
    assert!(hits.iter().all(|h| h["entry"]["zone"] == "raw"));
    let kinds = json["facets"]["counts"]["kind"].as_array().expect("kinds");
    assert!(kinds.iter().any(|k| k[0] == "object"), "{kinds:?}");

    // Schemas and their columns; an entry in full.
    let schemas = ok(ctl_as(&dir, "sci", &["catalog", "schemas", "scores"]));
    assert!(schemas.contains("curated/scores schema 1"), "{schemas}");
    assert!(schemas.contains("complete"), "{schemas}");
    let show = ok(ctl_as(
        &dir,
        "sci",
        &["catalog", "show", "dataset:raw/observations"],
    ));
    assert!(
        show.contains("tags: ") && show.contains("identifiable"),
        "{show}"
    );
    let missing = ctl_as(&dir, "sci", &["catalog", "show", "dataset:nope"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no catalogue entry"),
        "{}",
        stderr(&missing)
    );

    // Clinical roles have no use for it; only admins change it.
    let refused = ctl_as(&dir, "nurse", &["catalog", "search", "scores"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("data (or admin)"),
        "{}",
        stderr(&refused)
    );
    let refused = ctl_as(&dir, "sci", &["catalog", "reindex"]);
    assert!(!refused.status.success());
    // Searches are audited, with the query.
    let audit: Value =
        serde_json::from_str(&ok(ctl(&dir, &["audit", "--json", "--limit", "100"]))).expect("json");
    assert!(
        audit
            .as_array()
            .expect("audit")
            .iter()
            .any(|e| e["action"] == "catalog.search"
                && e["actor"] == "sci"
                && e["detail"]["query"] == "kind:dataset column:spo2"),
        "{audit}"
    );

    // An admin describes a dataset; the search and the history show it.
    ok(ctl(
        &dir,
        &[
            "catalog",
            "annotate",
            "dataset:curated/scores",
            "--description",
            "Scores for the cardiology research board",
            "--tag",
            "cardiology",
        ],
    ));
    let tagged = ok(ctl_as(
        &dir,
        "sci",
        &["catalog", "search", "tag:cardiology"],
    ));
    assert!(tagged.contains("curated/scores"), "{tagged}");
    let history = ok(ctl_as(
        &dir,
        "sci",
        &["catalog", "history", "dataset:curated/scores"],
    ));
    assert!(
        history.contains("v1 ") && history.contains("created by admin"),
        "{history}"
    );
    assert!(
        history.contains("v2 ") && history.contains("by admin: description="),
        "{history}"
    );

    let then = ok(ctl_as(
        &dir,
        "sci",
        &[
            "catalog",
            "show",
            "dataset:curated/scores",
            "--at",
            &before_note,
        ],
    ));
    assert!(then.starts_with("version: 1 "), "{then}");
    assert!(!then.contains("research board"), "{then}");

    // The index lost: a clear error, then a reindex answers as before.
    std::fs::remove_dir_all(dir.join("catalog")).expect("lose the index");
    let lost = ctl_as(&dir, "sci", &["catalog", "search", "tag:cardiology"]);
    assert!(!lost.status.success());
    assert!(
        stderr(&lost).contains("catalog reindex"),
        "{}",
        stderr(&lost)
    );
    let rebuilt = ok(ctl(&dir, &["catalog", "reindex"]));
    assert!(rebuilt.contains("catalogue index rebuilt"), "{rebuilt}");
    assert_eq!(
        ok(ctl_as(
            &dir,
            "sci",
            &["catalog", "search", "tag:cardiology"]
        )),
        tagged
    );
}
