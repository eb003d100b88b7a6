//! Development aid for the beat classifier (issue 10): runs the live QRS
//! detector and `BeatClassifier` as `EcgStream` does on each unpaced
//! MIT-BIH record and prints one CSV row per classified beat with its
//! features and the reference label (matched within ±150 ms), so that the
//! decision thresholds can be studied on the development half (DS1) of the
//! inter-patient split before they are checked on DS2.
//!
//! Usage: `cargo run --release -p wardwatch-score --example veb_features [DATA_DIR] > beats.csv`

use std::path::PathBuf;

use wardwatch_score::ecg::QrsDetector;
use wardwatch_score::ecg::beats::{BeatClass, BeatClassifier};
use wardwatch_wfdb::{Record, read_annotations};

const UNPACED: [&str; 44] = [
    "100", "101", "103", "105", "106", "108", "109", "111", "112", "113", "114", "115", "116",
    "117", "118", "119", "121", "122", "123", "124", "200", "201", "202", "203", "205", "207",
    "208", "209", "210", "212", "213", "214", "215", "219", "220", "221", "222", "223", "228",
    "230", "231", "232", "233", "234",
];
const DS2: [&str; 22] = [
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213",
    "214", "219", "221", "222", "228", "231", "232", "233", "234",
];

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "NA".to_owned(), |v| format!("{v:.3}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("../shared/data"), PathBuf::from);
    println!(
        "rec,ds,sample,ref,class,corr,width,amp,area,rr_before,rr_after,dominant,share,fam_premature,fam_width,noise,noise_ratio,fam_v"
    );
    for name in UNPACED {
        let record = Record::open(dir.join(format!("mitdb/{name}.hea")))?;
        let fs = record.fs_hz();
        let mv = record.physical(0)?;
        let anns = read_annotations(dir.join(format!("mitdb/{name}.atr")))?;
        let reference: Vec<(usize, String)> = anns
            .iter()
            .filter(|a| a.is_beat())
            .map(|a| (a.sample as usize, a.symbol().to_owned()))
            .collect();
        let mut detector = QrsDetector::new(fs)?;
        let mut classifier = BeatClassifier::new(fs);
        let mut out = Vec::new();
        for chunk in mv.chunks(fs as usize) {
            for b in detector.push(chunk) {
                classifier.add_beat(b.sample);
            }
            classifier.push(chunk);
            out.extend(classifier.take_classified());
        }
        let ds = if DS2.contains(&name) { "DS2" } else { "DS1" };
        // Reference beats no detection matched: class `M` (missed).
        let tolerance_m = (0.15 * fs).round() as usize;
        let detected: Vec<usize> = out.iter().map(|b| b.sample).collect();
        for (k, (s, sym)) in reference.iter().enumerate() {
            let i = detected.partition_point(|&d| d + tolerance_m < *s);
            if detected.get(i).is_none_or(|&d| d > s + tolerance_m) {
                let rr = k
                    .checked_sub(1)
                    .map_or(0.0, |p| (s - reference[p].0) as f64 / fs);
                println!("{name},{ds},{s},{sym},M,{rr:.3},NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA");
            }
        }
        let tolerance = (0.15 * fs).round() as usize;
        let mut j = 0;
        for beat in out {
            while j < reference.len() && reference[j].0 + tolerance < beat.sample {
                j += 1;
            }
            let label = match reference.get(j) {
                Some((s, sym)) if *s <= beat.sample + tolerance => sym.as_str(),
                _ => "-",
            };
            let class = match beat.class {
                BeatClass::Normal => "N",
                BeatClass::Ventricular => "V",
                BeatClass::Unknown => "U",
            };
            match beat.features {
                Some(f) => println!(
                    "{name},{ds},{},{label},{class},{:.3},{:.3},{:.3},{:.3},{},{},{},{:.3},{:.3},{:.3},{:.4},{:.3},{:.3}",
                    beat.sample,
                    f.correlation,
                    f.width_ratio,
                    f.amplitude_ratio,
                    f.area_ratio,
                    opt(f.rr_before),
                    opt(f.rr_after),
                    u8::from(f.dominant),
                    f.family_share,
                    f.family_premature,
                    f.family_width_ratio,
                    f.noise,
                    f.noise_ratio,
                    f.family_ventricular
                ),
                None => println!(
                    "{name},{ds},{},{label},{class},NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA",
                    beat.sample
                ),
            }
        }
    }
    Ok(())
}
