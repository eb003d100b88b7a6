//! The Kinesis sink against kinesalite on loopback (started by
//! `scripts/peers.sh`, as for wardwatch-cloud's tests).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use wardwatch_cloud::{Credentials, IteratorStart, KinesisClient, KinesisConfig};
use wardwatch_sim::*;

fn kinesalite() -> KinesisClient {
    let url = match std::env::var("WARDWATCH_KINESALITE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "WARDWATCH_KINESALITE_URL is not set: run via scripts/test.sh, or \
             `scripts/peers.sh start target/peers.env && . target/peers.env` first"
        ),
    };
    KinesisClient::new(KinesisConfig {
        endpoint: url,
        region: "us-east-1".into(),
        credentials: Credentials {
            access_key_id: "AKIDWARDWATCHSIM".into(),
            secret_access_key: "wardwatch-sim-secret".into(),
            session_token: None,
        }
        .into(),
        timeout: Duration::from_secs(20),
        ca_bundle: None,
    })
    .expect("endpoint")
}

#[tokio::test]
async fn every_emitted_record_is_on_the_stream_once_keyed_by_mrn() {
    let client = kinesalite();
    let stream = format!("sim-{}-{}", std::process::id(), crate::start().timestamp());
    client
        .create_stream(&stream, 2)
        .await
        .expect("create stream");
    client
        .wait_for_active(&stream, Duration::from_secs(30))
        .await
        .expect("active");

    let mut config = GeneratorConfig::new(crate::patients(4), 21, crate::start());
    config.duration_s = Some(20);
    config.scenario = Scenario::alarm_tests().with_malformed(0.05, &MalformedKind::ALL);
    config
        .scenario
        .episodes
        .retain(|e| e.patient != PatientRef::Bed(4) && e.patient != PatientRef::Bed(5));
    let mut sink = KinesisSink::new(client.clone(), &stream);
    let report = run_sim(
        Generator::new(config).expect("config"),
        &mut sink,
        Pace::AsFastAsPossible,
        std::future::pending(),
    )
    .await
    .expect("runs");

    let mut on_stream = Vec::new();
    for shard in client.list_shards(&stream).await.expect("shards") {
        let mut it = client
            .get_shard_iterator(&stream, &shard.shard_id, IteratorStart::TrimHorizon)
            .await
            .expect("iterator");
        loop {
            let page = client.get_records(&it, 10_000).await.expect("records");
            let empty = page.records.is_empty();
            on_stream.extend(page.records);
            match page.next_shard_iterator {
                Some(next) if !empty => it = next,
                _ => break,
            }
        }
    }
    assert_eq!(on_stream.len() as u64, report.emitted_total);
    let mut per_key: BTreeMap<String, u64> = BTreeMap::new();
    let mut payloads = HashSet::new();
    for r in &on_stream {
        *per_key.entry(r.partition_key.clone()).or_default() += 1;
        assert!(payloads.insert(r.data.clone()), "a record arrived twice");
    }
    for (mrn, counts) in &report.per_patient {
        assert_eq!(
            per_key[mrn],
            counts.numeric + counts.ecg + counts.malformed,
            "{mrn}"
        );
    }
    assert!(report.malformed > 0);
    let _ = client.delete_stream(&stream).await;
}
