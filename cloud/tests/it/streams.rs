//! Stream lifecycle, writing and reading: create, list shards, put records and
//! read them all back in order, resume from a checkpoint, and what an unknown
//! or deleted stream answers.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use wardwatch_cloud::kinesis::sequence_cmp;
use wardwatch_cloud::{ErrorKind, IteratorStart, PutRecordsEntry, StreamStatus};

use crate::peers::{Peer, active_stream, client, read_shard, stream_name};

on_both_peers!(
    create_stream_opens_shards_covering_every_hash_key,
    put_records_read_back_once_each_in_order_per_shard,
    after_sequence_number_resumes_with_only_newer_records,
    unknown_or_deleted_stream_is_not_found,
);

async fn create_stream_opens_shards_covering_every_hash_key(peer: Peer) {
    let kinesis = client(peer);
    let stream = active_stream(&kinesis, "create", 3).await;

    let summary = kinesis
        .describe_stream_summary(&stream)
        .await
        .expect("describe");
    assert_eq!(summary.status, StreamStatus::Active);
    assert_eq!(summary.stream_name, stream);
    assert_eq!(summary.open_shard_count, Some(3));

    let mut shards = kinesis.list_shards(&stream).await.expect("list shards");
    assert_eq!(shards.len(), 3);
    shards.sort_by_key(|s| s.hash_key_range.starting);
    assert!(
        shards
            .iter()
            .all(|s| s.is_open() && s.parent_shard_id.is_none())
    );
    // Together the shards own every possible partition-key hash, without gaps.
    assert_eq!(shards[0].hash_key_range.starting, 0);
    assert_eq!(shards[2].hash_key_range.ending, u128::MAX);
    for pair in shards.windows(2) {
        assert_eq!(
            pair[0].hash_key_range.ending + 1,
            pair[1].hash_key_range.starting
        );
    }

    // One shard per page forces NextToken pagination where the server
    // paginates (moto does; kinesalite returns everything at once).
    let paged = client(peer)
        .with_list_shards_page_size(1)
        .list_shards(&stream)
        .await
        .expect("paged list shards");
    let mut ids: Vec<_> = paged.iter().map(|s| s.shard_id.clone()).collect();
    ids.sort();
    let mut expected: Vec<_> = shards.iter().map(|s| s.shard_id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected);

    let again = kinesis
        .create_stream(&stream, 1)
        .await
        .expect_err("the stream exists");
    assert_eq!(again.kind(), ErrorKind::InUse, "{again}");
}

async fn put_records_read_back_once_each_in_order_per_shard(peer: Peer) {
    let kinesis = client(peer);
    let stream = active_stream(&kinesis, "order", 3).await;

    // 12 beds, 5 observations each, interleaved as a ward would send them.
    let batch: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| {
            (
                format!("bed-{}", i % 12),
                format!("obs-{i:03}").into_bytes(),
            )
        })
        .collect();
    let mut pending: Vec<usize> = (0..batch.len()).collect();
    let mut stored: HashMap<usize, (String, String)> = HashMap::new();
    // The caller's side of partial failure: resend only the failed subset.
    for _attempt in 0..5 {
        if pending.is_empty() {
            break;
        }
        let subset: Vec<(&str, &[u8])> = pending
            .iter()
            .map(|&i| (batch[i].0.as_str(), batch[i].1.as_slice()))
            .collect();
        let out = kinesis
            .put_records(&stream, &subset)
            .await
            .expect("put records");
        assert_eq!(out.records.len(), subset.len());
        let mut still = Vec::new();
        for (entry, &i) in out.records.iter().zip(&pending) {
            match entry {
                PutRecordsEntry::Stored {
                    shard_id,
                    sequence_number,
                } => {
                    stored.insert(i, (shard_id.clone(), sequence_number.clone()));
                }
                PutRecordsEntry::Failed { .. } => still.push(i),
            }
        }
        assert_eq!(out.failed_record_count as usize, still.len());
        pending = still;
    }
    assert!(pending.is_empty(), "records never stored: {pending:?}");
    let single = kinesis
        .put_record(&stream, "bed-0", b"obs-060")
        .await
        .expect("put record");

    let shards = kinesis.list_shards(&stream).await.expect("list shards");
    let mut seen: BTreeMap<Vec<u8>, (String, String)> = BTreeMap::new();
    let mut per_key: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for shard in &shards {
        let (records, _) = read_shard(
            &kinesis,
            &stream,
            &shard.shard_id,
            IteratorStart::TrimHorizon,
        )
        .await;
        for pair in records.windows(2) {
            assert_eq!(
                sequence_cmp(&pair[0].sequence_number, &pair[1].sequence_number),
                std::cmp::Ordering::Less,
                "sequence numbers rise within shard {}",
                shard.shard_id
            );
        }
        for r in records {
            assert!(
                r.approximate_arrival_ms
                    .is_some_and(|ms| ms > 1_600_000_000_000)
            );
            per_key
                .entry(r.partition_key.clone())
                .or_default()
                .push(r.data.clone());
            let previous = seen.insert(
                r.data.clone(),
                (shard.shard_id.clone(), r.sequence_number.clone()),
            );
            assert!(previous.is_none(), "a record was read twice");
        }
    }
    assert_eq!(seen.len(), 61, "every record read back exactly once");
    for (i, (_, data)) in batch.iter().enumerate() {
        assert_eq!(
            seen.get(data),
            stored.get(&i),
            "record {i} is where PutRecords said"
        );
    }
    assert_eq!(
        seen.get(b"obs-060".as_slice()),
        Some(&(single.shard_id.clone(), single.sequence_number.clone()))
    );
    // One bed's observations come back in the order they were sent.
    for (key, got) in &per_key {
        let mut sent: Vec<Vec<u8>> = batch
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, d)| d.clone())
            .collect();
        if key == "bed-0" {
            sent.push(b"obs-060".to_vec());
        }
        assert_eq!(got, &sent, "order of {key}");
    }
}

async fn after_sequence_number_resumes_with_only_newer_records(peer: Peer) {
    let kinesis = client(peer);
    let stream = active_stream(&kinesis, "resume", 1).await;
    let shard = kinesis.list_shards(&stream).await.expect("list shards")[0]
        .shard_id
        .clone();
    for i in 0..5 {
        kinesis
            .put_record(&stream, "bed-7", format!("old-{i}").as_bytes())
            .await
            .expect("put old");
    }
    let (first, _) = read_shard(&kinesis, &stream, &shard, IteratorStart::TrimHorizon).await;
    assert_eq!(first.len(), 5);
    let checkpoint = first[4].sequence_number.clone();

    let latest = kinesis
        .get_shard_iterator(&stream, &shard, IteratorStart::Latest)
        .await
        .expect("latest iterator");
    for i in 0..3 {
        kinesis
            .put_record(&stream, "bed-7", format!("new-{i}").as_bytes())
            .await
            .expect("put new");
    }

    let data = |records: &[wardwatch_cloud::KinesisRecord]| -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8_lossy(&r.data).into_owned())
            .collect()
    };
    let (after, _) = read_shard(
        &kinesis,
        &stream,
        &shard,
        IteratorStart::AfterSequenceNumber(checkpoint.clone()),
    )
    .await;
    assert_eq!(data(&after), ["new-0", "new-1", "new-2"]);

    let (at, _) = read_shard(
        &kinesis,
        &stream,
        &shard,
        IteratorStart::AtSequenceNumber(checkpoint),
    )
    .await;
    assert_eq!(data(&at), ["old-4", "new-0", "new-1", "new-2"]);

    // An iterator taken at LATEST sees only what came after it.
    let page = kinesis
        .get_records(&latest, 100)
        .await
        .expect("read latest");
    assert_eq!(data(&page.records), ["new-0", "new-1", "new-2"]);
}

async fn unknown_or_deleted_stream_is_not_found(peer: Peer) {
    let kinesis = client(peer);
    let unknown = stream_name("never-created");
    let e = kinesis
        .describe_stream_summary(&unknown)
        .await
        .expect_err("unknown stream");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains(&unknown),
        "the message names the stream: {e}"
    );
    let e = kinesis
        .get_shard_iterator(&unknown, "shardId-000000000000", IteratorStart::TrimHorizon)
        .await
        .expect_err("unknown stream");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = kinesis
        .list_shards(&unknown)
        .await
        .expect_err("unknown stream");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = kinesis
        .put_record(&unknown, "bed-1", b"x")
        .await
        .expect_err("unknown stream");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // An iterator outlives its stream on the client side only.
    let stream = active_stream(&kinesis, "deleted", 1).await;
    kinesis
        .put_record(&stream, "bed-1", b"x")
        .await
        .expect("put");
    let iterator = kinesis
        .get_shard_iterator(&stream, "shardId-000000000000", IteratorStart::TrimHorizon)
        .await
        .expect("iterator");
    kinesis.delete_stream(&stream).await.expect("delete");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match kinesis.describe_stream_summary(&stream).await {
            Err(e) if e.kind() == ErrorKind::NotFound => break,
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            other => panic!("stream not gone after delete: {other:?}"),
        }
    }
    let e = kinesis
        .get_records(&iterator, 10)
        .await
        .expect_err("deleted stream");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}
