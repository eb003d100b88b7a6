//! A patient's history for the chart: a back-filled year decimated to the
//! chart's width, full-rate samples when zoomed in, gaps kept as gaps.

use chrono::Duration;
use wardwatch_core::api;
use wardwatch_core::model::Vital;
use wardwatch_core::store::history::Resolution;

use crate::{clock, ctx, private_tempdir, store_of};

#[test]
fn a_year_of_minutes_decimates_to_the_chart_and_zooms_to_samples() {
    let dir = private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    let written = api::backfill_demo_history(&mut admin, 2, 366, 0).expect("back-fill");
    // Bed 1: 366 days × 24 h × 6 vitals; 23 others: 2 days each.
    assert_eq!(written, 366 * 24 * 6 + 23 * 2 * 24 * 6);
    // Again: nothing doubled, nothing overwritten.
    assert_eq!(
        api::backfill_demo_history(&mut admin, 2, 366, 0).expect("again"),
        0
    );

    let mut beds = store_of(&admin).patients().expect("patients");
    beds.sort_by(|a, b| a.bed.cmp(&b.bed).then(a.mrn.cmp(&b.mrn)));
    let long = &beds[0];
    let now = clock().0;
    let year = api::patient_history(&admin, &long.mrn, now - Duration::days(365), now, 1000)
        .expect("a year");
    assert_eq!(year.resolution, Resolution::Minutes);
    assert!(
        year.t_ms.len() <= 1000 && year.t_ms.len() >= 990,
        "{}",
        year.t_ms.len()
    );
    let hr = year
        .series
        .iter()
        .find(|s| s.vital == Vital::HeartRate)
        .expect("heart rate");
    // Every column holds data (the year is dense) and min ≤ mean ≤ max.
    assert!(hr.mean.iter().all(Option::is_some));
    for i in 0..hr.mean.len() {
        let (lo, m, hi) = (
            hr.min[i].unwrap_or(0.0),
            hr.mean[i].unwrap_or(0.0),
            hr.max[i].unwrap_or(0.0),
        );
        assert!(lo <= m && m <= hi, "column {i}: {lo} {m} {hi}");
    }
    // A year of minutes at 60 readings each.
    assert!(
        hr.readings >= 365 * 24 * 60 * 60 - 60 * 60 * 60,
        "{}",
        hr.readings
    );
    // Read from the hours' summaries, a year agrees with its minutes: with
    // day-wide columns aligned to hours, each column's extremes and mean are
    // those of its 1,440 minutes (the independent path: `Store::rollups`).
    let from = now - Duration::days(364);
    let days = api::patient_history(&admin, &long.mrn, from, now, 364).expect("by day");
    assert_eq!(days.bin_ms, 86_400_000);
    let minutes = store_of(&admin)
        .rollups(&long.mrn, Vital::Spo2, from, now)
        .expect("minutes");
    let spo2 = days
        .series
        .iter()
        .find(|s| s.vital == Vital::Spo2)
        .expect("spo2");
    let mut by_day = vec![Vec::new(); 364];
    for (t, m) in &minutes {
        by_day[(*t - from).num_days() as usize].push(*m);
    }
    for (day, (mean, of_day)) in spo2.mean.iter().zip(&by_day).enumerate() {
        let lo = of_day.iter().map(|m| m.min).fold(f64::INFINITY, f64::min);
        let hi = of_day
            .iter()
            .map(|m| m.max)
            .fold(f64::NEG_INFINITY, f64::max);
        let n: f64 = of_day.iter().map(|m| f64::from(m.count)).sum();
        let avg = of_day
            .iter()
            .map(|m| m.mean * f64::from(m.count))
            .sum::<f64>()
            / n;
        assert_eq!(spo2.min[day], Some(lo), "day {day}");
        assert_eq!(spo2.max[day], Some(hi), "day {day}");
        assert!(
            (mean.expect("a mean") - avg).abs() <= 0.051,
            "day {day}: {mean:?} vs {avg}"
        );
    }

    // The days before the back-fill are a gap, not a line.
    let older = api::patient_history(&admin, &long.mrn, now - Duration::days(400), now, 400)
        .expect("400 days");
    let hr = older
        .series
        .iter()
        .find(|s| s.vital == Vital::HeartRate)
        .expect("hr");
    assert!(hr.mean[..30].iter().all(Option::is_none));
    assert!(hr.mean[40..].iter().all(Option::is_some));

    // Another patient has two days; a week shows five empty days.
    let short = &beds[5];
    let week =
        api::patient_history(&admin, &short.mrn, now - Duration::days(7), now, 700).expect("week");
    let t = week
        .series
        .iter()
        .find(|s| s.vital == Vital::TemperatureC)
        .expect("temp");
    let filled = t.mean.iter().filter(|m| m.is_some()).count();
    assert!(
        (180..=220).contains(&filled),
        "{filled} of 700 columns hold two days"
    );

    // Zoomed to minutes within the raw retention: full-rate samples (none
    // streamed here, so no series), not minutes.
    let zoom = api::patient_history(&admin, &long.mrn, now - Duration::minutes(10), now, 1000)
        .expect("ten minutes");
    assert_eq!(zoom.resolution, Resolution::Samples);
    assert_eq!(zoom.bin_ms, 1000, "never finer than the samples");
    // Zoomed into last month: minutes, one column per minute at most.
    let hour = api::patient_history(
        &admin,
        &long.mrn,
        now - Duration::days(30),
        now - Duration::days(30) + Duration::hours(1),
        1000,
    )
    .expect("an hour last month");
    assert_eq!(hour.resolution, Resolution::Minutes);
    assert_eq!((hour.bin_ms, hour.t_ms.len()), (60_000, 60));

    // Bad requests are refused with the reason; unknown patients are not found.
    for (from, to, cols, why) in [
        (now, now - Duration::days(1), 100, "must be after"),
        (now - Duration::days(2000), now, 100, "at most"),
        (now - Duration::days(1), now, 3, "columns"),
    ] {
        let e = api::patient_history(&admin, &long.mrn, from, to, cols).expect_err("refused");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    let e = api::patient_history(&admin, "NOPE", now - Duration::days(1), now, 100)
        .expect_err("unknown");
    assert_eq!(e.kind().code(), "not_found");
    // The read is audited against the patient.
    let audit = api::recent_audit(&admin, 50).expect("audit");
    assert!(
        audit.iter().any(
            |e| e.action == "patient.history" && e.target.as_deref() == Some(long.mrn.as_str())
        )
    );
}

/// A store at a ward's steady state for the benchmarks (and a demo whose
/// charts zoom into the last hours): the last hours' raw readings are
/// back-filled with the minutes, and the minutes summarise exactly those
/// readings.
#[test]
fn back_filled_raw_readings_are_the_samples_their_minutes_summarise() {
    let dir = private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    // Past the raw-numeric window (24 h): refused, nothing written.
    let err = api::backfill_demo_history(&mut admin, 0, 0, 25).expect_err("too long");
    assert!(err.to_string().contains("raw-numeric window"), "{err}");
    let written = api::backfill_demo_history(&mut admin, 0, 0, 2).expect("back-fill");
    assert_eq!(written, 24 * 2 * 6, "two hours of six vitals for each bed");
    assert_eq!(
        api::backfill_demo_history(&mut admin, 0, 0, 2).expect("again"),
        0
    );
    let mrn = store_of(&admin).patients().expect("patients")[0]
        .mrn
        .clone();
    // Up to the last full hour (the test's clock stands at 08:00).
    let to = clock().0;
    let from = to - Duration::hours(1);
    let h = api::patient_history(&admin, &mrn, from, to, 60).expect("the last hour");
    assert_eq!(h.resolution, Resolution::Samples);
    assert_eq!(h.bin_ms, 60_000);
    let store = store_of(&admin);
    for s in &h.series {
        assert_eq!(s.readings, 3600, "{:?}: one a second", s.vital);
        let minutes = store.rollups(&mrn, s.vital, from, to).expect("minutes");
        assert_eq!(minutes.len(), 60, "{:?}", s.vital);
        for (i, (_, m)) in minutes.iter().enumerate() {
            let (lo, mean, hi) = (
                s.min[i].expect("min"),
                s.mean[i].expect("mean"),
                s.max[i].expect("max"),
            );
            assert_eq!((m.min, m.max), (lo, hi), "{:?} minute {i}", s.vital);
            assert!(
                (m.mean - mean).abs() < 0.0501, // the chart shows means to a tenth
                "{:?} minute {i}: {m:?} {mean}",
                s.vital
            );
        }
    }
}

/// The curated zone's minutes come in bounded pieces: read from the end
/// of the last piece on, they are exactly the minutes of one read of the
/// whole span, and no piece holds more than the bound plus one minute's
/// rows (a catch-up over a day of a large ward held tens of millions).
#[test]
fn curated_minutes_come_in_bounded_pieces_that_add_up_to_the_whole() {
    let dir = private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    api::backfill_demo_history(&mut admin, 1, 1, 0).expect("back-fill");
    let mut store = store_of(&admin);
    let p = store.lake_pseudonymizer().expect("pseudonyms");
    let to = clock().0;
    // From mid-hour, so the first hour is read in part.
    let from = to - Duration::hours(3) + Duration::minutes(30);
    let key =
        |r: &wardwatch_core::store::curated::MinuteRow| (r.minute, r.patient.clone(), r.vital);
    let (whole, end) = store
        .curated_minutes(from, to, &p, usize::MAX)
        .expect("whole");
    assert_eq!(end, to);
    // 24 beds × 6 vitals a minute, 150 minutes.
    assert_eq!(whole.len(), 24 * 6 * 150);
    let mut pieces = Vec::new();
    let mut at = from;
    while at < to {
        let (rows, end) = store.curated_minutes(at, to, &p, 1000).expect("piece");
        assert!(end > at, "a piece moves on");
        assert!(rows.len() <= 1000, "{} rows", rows.len());
        assert!(rows.iter().all(|r| r.minute >= at && r.minute < end));
        pieces.push(rows.len());
        at = end;
    }
    // 144 rows a minute: six minutes (864 rows) a piece.
    assert_eq!(pieces.len(), 25, "{pieces:?}");
    let mut joined: Vec<_> = Vec::new();
    let mut at = from;
    while at < to {
        let (rows, end) = store.curated_minutes(at, to, &p, 1000).expect("piece");
        joined.extend(rows);
        at = end;
    }
    let mut a: Vec<_> = whole.iter().map(key).collect();
    let mut b: Vec<_> = joined.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // A bound below one minute's rows still moves on a minute at a time.
    let (rows, end) = store.curated_minutes(from, to, &p, 1).expect("tiny");
    assert_eq!((rows.len(), end), (144, from + Duration::minutes(1)));
}
