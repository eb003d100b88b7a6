//! Shard changes: a split closes the parent and opens two children that split
//! its hash range, a merge closes two adjacent shards into one child, and
//! records written before and after stay readable from the right shards.

use std::time::Duration;

use wardwatch_cloud::{ErrorKind, IteratorStart, KinesisClient, Shard};

use crate::peers::{Peer, active_stream, client, read_shard};

on_both_peers!(
    split_then_merge_closes_parents_and_opens_children,
    update_shard_count_resizes_where_supported,
);

async fn shards_by_id(kinesis: &KinesisClient, stream: &str) -> Vec<Shard> {
    let mut shards = kinesis.list_shards(stream).await.expect("list shards");
    shards.sort_by(|a, b| a.shard_id.cmp(&b.shard_id));
    shards
}

async fn split_then_merge_closes_parents_and_opens_children(peer: Peer) {
    let kinesis = client(peer);
    let stream = active_stream(&kinesis, "split", 1).await;
    let parent = shards_by_id(&kinesis, &stream).await.remove(0);
    for i in 0..4 {
        kinesis
            .put_record(
                &stream,
                &format!("bed-{i}"),
                format!("before-{i}").as_bytes(),
            )
            .await
            .expect("put before split");
    }

    let mid = parent.hash_key_range.midpoint();
    kinesis
        .split_shard(&stream, &parent.shard_id, mid)
        .await
        .expect("split");
    kinesis
        .wait_for_active(&stream, Duration::from_secs(20))
        .await
        .expect("active after split");

    let shards = shards_by_id(&kinesis, &stream).await;
    assert_eq!(shards.len(), 3, "{shards:?}");
    let closed = shards
        .iter()
        .find(|s| s.shard_id == parent.shard_id)
        .expect("the parent is still listed");
    assert!(!closed.is_open(), "the split parent is closed");
    let mut children: Vec<&Shard> = shards
        .iter()
        .filter(|s| s.parent_shard_id.as_deref() == Some(parent.shard_id.as_str()))
        .collect();
    children.sort_by_key(|s| s.hash_key_range.starting);
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c.is_open()));
    assert_eq!(
        children[0].hash_key_range.starting,
        parent.hash_key_range.starting
    );
    assert_eq!(children[0].hash_key_range.ending, mid - 1);
    assert_eq!(children[1].hash_key_range.starting, mid);
    assert_eq!(
        children[1].hash_key_range.ending,
        parent.hash_key_range.ending
    );

    // Old records stay in the closed parent. Only kinesalite reports the end
    // of a closed shard (no next iterator, as AWS does); moto keeps handing
    // out iterators for it.
    let (old, drained) = read_shard(
        &kinesis,
        &stream,
        &parent.shard_id,
        IteratorStart::TrimHorizon,
    )
    .await;
    assert_eq!(old.len(), 4);
    if peer == Peer::Kinesalite {
        assert!(drained, "a closed, fully read shard has no next iterator");
    }

    // New records go to the children only. moto 5.2.5 still routes records
    // to the closed parent (AWS and kinesalite do not), so only kinesalite
    // can show it.
    let child_ids: Vec<&str> = children.iter().map(|c| c.shard_id.as_str()).collect();
    if peer == Peer::Kinesalite {
        for i in 0..6 {
            let put = kinesis
                .put_record(
                    &stream,
                    &format!("bed-{i}"),
                    format!("after-{i}").as_bytes(),
                )
                .await
                .expect("put after split");
            assert!(child_ids.contains(&put.shard_id.as_str()), "{put:?}");
        }
        let mut after = 0;
        for id in &child_ids {
            after += read_shard(&kinesis, &stream, id, IteratorStart::TrimHorizon)
                .await
                .0
                .len();
        }
        assert_eq!(after, 6);
    }

    kinesis
        .merge_shards(&stream, child_ids[0], child_ids[1])
        .await
        .expect("merge");
    kinesis
        .wait_for_active(&stream, Duration::from_secs(20))
        .await
        .expect("active after merge");
    let shards = shards_by_id(&kinesis, &stream).await;
    let open: Vec<&Shard> = shards.iter().filter(|s| s.is_open()).collect();
    assert_eq!(open.len(), 1, "{shards:?}");
    let merged = open[0];
    assert_eq!(merged.parent_shard_id.as_deref(), Some(child_ids[0]));
    assert_eq!(
        merged.adjacent_parent_shard_id.as_deref(),
        Some(child_ids[1])
    );
    assert_eq!(merged.hash_key_range, parent.hash_key_range);
    assert!(
        shards
            .iter()
            .filter(|s| child_ids.contains(&s.shard_id.as_str()))
            .all(|s| !s.is_open()),
        "merged children are closed"
    );

    let e = kinesis
        .split_shard(&stream, "shardId-000000009999", mid)
        .await
        .expect_err("no such shard");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

async fn update_shard_count_resizes_where_supported(peer: Peer) {
    let kinesis = client(peer);
    let stream = active_stream(&kinesis, "resize", 2).await;
    let result = kinesis.update_shard_count(&stream, 4).await;
    match peer {
        Peer::Kinesalite => {
            let e = result.expect_err("kinesalite has no UpdateShardCount");
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        }
        Peer::Moto => {
            result.expect("moto resizes");
            let summary = kinesis
                .wait_for_active(&stream, Duration::from_secs(20))
                .await
                .expect("active after resize");
            let open = kinesis
                .list_shards(&stream)
                .await
                .expect("list shards")
                .into_iter()
                .filter(Shard::is_open)
                .count();
            assert_eq!(open, 4);
            assert_eq!(summary.open_shard_count, Some(4));
        }
    }
}
