//! Property tests for the parsers and codecs.

use std::path::Path;

use proptest::prelude::*;
use wardwatch_sim::Scenario;
use wardwatch_sim::observation::sample_data;

proptest! {
    /// Any input gives a scenario or an error naming the file, never a panic.
    #[test]
    fn scenario_parser_never_panics(text in ".{0,200}") {
        if let Err(e) = Scenario::from_json(&text, Path::new("p.json")) {
            prop_assert!(e.to_string().contains("p.json"));
        }
    }

    // serde_json's default float parser may be one ULP off, hence the tolerance.
    #[test]
    fn scenario_episodes_with_any_numbers_parse_or_fail_cleanly(
        bed in 0usize..50, start in 0u64..100_000, dur in 0u64..10_000, hr in -1000.0f64..1000.0
    ) {
        let text = format!(
            r#"{{"episodes":[{{"bed":{bed},"kind":"tachycardia","start_s":{start},"duration_s":{dur},"params":{{"hr":{hr}}}}}]}}"#
        );
        match Scenario::from_json(&text, Path::new("p.json")) {
            Ok(s) => prop_assert!(dur > 0 && (100.0..=300.0).contains(&hr) && s.episodes[0].level.is_some_and(|l| (l - hr).abs() < 1e-9)),
            Err(_) => prop_assert!(dur == 0 || !(100.0..=300.0).contains(&hr)),
        }
    }

    /// SampledData `data` decodes back to the same integers and gaps.
    #[test]
    fn sample_data_round_trips(samples in proptest::collection::vec(proptest::option::of(any::<i32>()), 1..300)) {
        let text = sample_data(&samples);
        let back: Vec<Option<i32>> = text
            .split(' ')
            .map(|x| if x == "E" { None } else { x.parse().ok() })
            .collect();
        prop_assert_eq!(back, samples);
    }
}
