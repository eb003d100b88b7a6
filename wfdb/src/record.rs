//! Records on disk: [`Record`] reads the samples of a single-segment record,
//! [`MultiRecord`] walks a multi-segment record whose segments may be gaps
//! (`~`) or may be absent from disk (large MIMIC segments often are), and says
//! where the holes are instead of failing.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::header::{Header, SignalSpec};
use crate::signal::{Format, checksum};

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parent_dir(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A single-segment WFDB record: its header plus the folder its data files live in.
#[derive(Debug, Clone)]
pub struct Record {
    header: Header,
    header_path: PathBuf,
    dir: PathBuf,
}

/// Which signals share one data file, and how a frame of that file is laid out.
struct FileGroup {
    path: PathBuf,
    format: Format,
    byte_offset: u64,
    /// Samples per frame of the whole file (sum over its signals).
    frame_width: usize,
    /// Where the wanted signal's samples start within a frame, and how many.
    position: usize,
    samples_per_frame: usize,
}

impl Record {
    /// Opens a single-segment record from its `.hea` file. Data files are
    /// read only when samples are asked for.
    pub fn open(header_path: impl AsRef<Path>) -> Result<Record> {
        let header_path = header_path.as_ref();
        let header = Header::parse(&read_text(header_path)?, header_path)?;
        Record::from_header(header, header_path)
    }

    /// Builds a record from an already parsed header; `header_path` locates
    /// the data files (they are resolved relative to its folder).
    pub fn from_header(header: Header, header_path: &Path) -> Result<Record> {
        if header.is_multi_segment() {
            return Err(Error::MultiSegment {
                path: header_path.to_path_buf(),
            });
        }
        Ok(Record {
            header,
            header_path: header_path.to_path_buf(),
            dir: parent_dir(header_path),
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn name(&self) -> &str {
        &self.header.record_name
    }

    pub fn fs_hz(&self) -> f64 {
        self.header.fs_hz
    }

    /// Signal metadata (name in `description`, gain, baseline, units, …).
    pub fn signals(&self) -> &[SignalSpec] {
        &self.header.signals
    }

    /// Index of the first signal whose description is `name` (e.g. `MLII`).
    pub fn signal_index(&self, name: &str) -> Option<usize> {
        self.header
            .signals
            .iter()
            .position(|s| s.description == name)
    }

    /// Data files the header refers to that are not on disk.
    pub fn missing_files(&self) -> Vec<PathBuf> {
        let mut missing: Vec<PathBuf> = Vec::new();
        for s in self.header.signals.iter().filter(|s| !s.has_no_data()) {
            let p = self.dir.join(&s.file_name);
            if !p.is_file() && !missing.contains(&p) {
                missing.push(p);
            }
        }
        missing
    }

    fn spec(&self, index: usize) -> Result<&SignalSpec> {
        self.header
            .signals
            .get(index)
            .ok_or_else(|| Error::NoSuchSignal {
                record: self.header.record_name.clone(),
                index,
                count: self.header.signals.len(),
            })
    }

    fn file_group(&self, index: usize) -> Result<FileGroup> {
        let spec = self.spec(index)?;
        if spec.has_no_data() {
            return Err(Error::NoData {
                path: self.header_path.clone(),
                signal: index,
            });
        }
        let format = Format::from_code(spec.format).ok_or_else(|| Error::UnsupportedFormat {
            path: self.header_path.clone(),
            signal: index,
            format: spec.format,
        })?;
        let (mut frame_width, mut position, mut byte_offset) = (0usize, 0usize, None);
        for (i, s) in self.header.signals.iter().enumerate() {
            if s.file_name != spec.file_name {
                continue;
            }
            if s.format != spec.format {
                return Err(Error::Inconsistent {
                    path: self.header_path.clone(),
                    message: format!(
                        "signals {index} and {i} share `{}` but have formats {} and {}",
                        spec.file_name, spec.format, s.format
                    ),
                });
            }
            byte_offset.get_or_insert(s.byte_offset);
            if i == index {
                position = frame_width;
            }
            frame_width += s.samples_per_frame as usize;
        }
        Ok(FileGroup {
            path: self.dir.join(&spec.file_name),
            format,
            byte_offset: byte_offset.unwrap_or(0),
            frame_width,
            position,
            samples_per_frame: spec.samples_per_frame as usize,
        })
    }

    /// Frames per signal: from the header, else from the data file's size.
    pub fn samples_per_signal(&self) -> Result<u64> {
        if let Some(n) = self.header.samples_per_signal {
            return Ok(n);
        }
        let Some(first) = (0..self.header.signals.len())
            .find(|&i| self.header.signals.get(i).is_some_and(|s| !s.has_no_data()))
        else {
            return Ok(0);
        };
        let g = self.file_group(first)?;
        let len = std::fs::metadata(&g.path)
            .map_err(|source| Error::Io {
                path: g.path.clone(),
                source,
            })?
            .len();
        Ok(g.format.samples_in(len.saturating_sub(g.byte_offset)) / g.frame_width as u64)
    }

    /// Stored sample values of signal `index`, exactly as in the file
    /// (including the format's "invalid" sentinel, see [`Format::invalid_sample`]).
    /// With several samples per frame the result has that many per frame.
    pub fn read_raw(&self, index: usize) -> Result<Vec<i32>> {
        let g = self.file_group(index)?;
        let frames = self.samples_per_signal()? as usize;
        let bytes = std::fs::read(&g.path).map_err(|source| Error::Io {
            path: g.path.clone(),
            source,
        })?;
        let total = frames * g.frame_width;
        let expected_bytes = g.format.bytes_for(total as u64);
        let found_bytes = (bytes.len() as u64).saturating_sub(g.byte_offset);
        if found_bytes < expected_bytes {
            return Err(Error::Truncated {
                path: g.path,
                offset: g.byte_offset,
                expected_bytes,
                found_bytes,
            });
        }
        let flat = g.format.decode(&bytes[g.byte_offset as usize..], total);
        if g.frame_width == 1 {
            return Ok(flat);
        }
        let mut out = Vec::with_capacity(frames * g.samples_per_frame);
        for frame in flat.chunks_exact(g.frame_width) {
            out.extend_from_slice(&frame[g.position..g.position + g.samples_per_frame]);
        }
        Ok(out)
    }

    /// Samples of signal `index` in ADC units, `None` where the file holds the
    /// format's "invalid sample" sentinel.
    pub fn read_signal(&self, index: usize) -> Result<Vec<Option<i32>>> {
        let invalid = self.file_group(index)?.format.invalid_sample();
        Ok(self
            .read_raw(index)?
            .into_iter()
            .map(|v| (v != invalid).then_some(v))
            .collect())
    }

    /// Samples of signal `index` in physical units (`units` of its spec):
    /// `(adc - baseline) / gain`, NaN where the sample is invalid.
    pub fn physical(&self, index: usize) -> Result<Vec<f64>> {
        let spec = self.spec(index)?;
        Ok(to_physical(&self.read_signal(index)?, spec))
    }

    /// Checks every signal that carries a checksum against its samples.
    pub fn verify_checksums(&self) -> Result<()> {
        for (i, spec) in self.header.signals.iter().enumerate() {
            let Some(expected) = spec.checksum else {
                continue;
            };
            if spec.has_no_data() {
                continue;
            }
            let actual = checksum(&self.read_raw(i)?);
            if actual != expected {
                return Err(Error::Checksum {
                    path: self.dir.join(&spec.file_name),
                    signal: i,
                    description: spec.description.clone(),
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }
}

/// Converts ADC samples to physical units with a signal's gain and baseline.
pub fn to_physical(samples: &[Option<i32>], spec: &SignalSpec) -> Vec<f64> {
    let gain = spec.gain_adu_per_unit;
    let baseline = f64::from(spec.baseline_adu);
    samples
        .iter()
        .map(|s| s.map_or(f64::NAN, |v| (f64::from(v) - baseline) / gain))
        .collect()
}

/// A segment of a multi-segment record, placed on the record's timeline.
#[derive(Debug, Clone)]
pub struct Segment {
    pub name: String,
    /// First sample of this segment counted from the start of the whole record.
    pub start_sample: u64,
    pub samples: u64,
    pub content: SegmentContent,
}

/// What a segment holds.
#[derive(Debug, Clone)]
pub enum SegmentContent {
    /// A `~` segment: the record has no signal here by design.
    Gap,
    /// The segment's header and data files are on disk.
    Present(Box<Record>),
    /// The segment is listed but files are missing (header or data).
    Absent { missing: Vec<PathBuf> },
}

/// A stretch of a multi-segment record without readable samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub start_sample: u64,
    pub samples: u64,
    pub cause: GapCause,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapCause {
    /// A `~` segment in the header.
    GapSegment,
    /// A listed segment whose files are not on disk.
    AbsentSegment { name: String, missing: Vec<PathBuf> },
}

/// A multi-segment record: the master header, its layout (if any) and the
/// segments in order.
#[derive(Debug, Clone)]
pub struct MultiRecord {
    header: Header,
    layout: Option<Record>,
    segments: Vec<Segment>,
}

impl MultiRecord {
    /// Opens a multi-segment header and every segment header it lists. A
    /// segment whose files are missing becomes [`SegmentContent::Absent`];
    /// a segment header that is present but malformed is an error.
    pub fn open(header_path: impl AsRef<Path>) -> Result<MultiRecord> {
        let header_path = header_path.as_ref();
        let header = Header::parse(&read_text(header_path)?, header_path)?;
        if !header.is_multi_segment() {
            return Err(Error::SingleSegment {
                path: header_path.to_path_buf(),
            });
        }
        let dir = parent_dir(header_path);
        let mut layout = None;
        let mut segments = Vec::with_capacity(header.segments.len());
        let mut start_sample = 0u64;
        for (i, spec) in header.segments.iter().enumerate() {
            // By convention a first segment of length 0 is the layout: it lists
            // every signal that appears anywhere in the record, without data.
            if i == 0 && spec.samples == 0 && !spec.is_gap() {
                let path = dir.join(format!("{}.hea", spec.name));
                if path.is_file() {
                    layout = Some(Record::open(&path)?);
                }
                continue;
            }
            let content = if spec.is_gap() {
                SegmentContent::Gap
            } else {
                let path = dir.join(format!("{}.hea", spec.name));
                if path.is_file() {
                    let record = Record::open(&path)?;
                    let missing = record.missing_files();
                    if missing.is_empty() {
                        SegmentContent::Present(Box::new(record))
                    } else {
                        SegmentContent::Absent { missing }
                    }
                } else {
                    SegmentContent::Absent {
                        missing: vec![path],
                    }
                }
            };
            segments.push(Segment {
                name: spec.name.clone(),
                start_sample,
                samples: spec.samples,
                content,
            });
            start_sample += spec.samples;
        }
        Ok(MultiRecord {
            header,
            layout,
            segments,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn fs_hz(&self) -> f64 {
        self.header.fs_hz
    }

    /// The layout segment's record (signal names and calibrations), if present.
    pub fn layout(&self) -> Option<&Record> {
        self.layout.as_ref()
    }

    /// Segments in time order, the layout segment excluded.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Total samples per signal along the record's timeline.
    pub fn total_samples(&self) -> u64 {
        self.segments.iter().map(|s| s.samples).sum()
    }

    /// Segments with readable data, with their start sample.
    pub fn present(&self) -> impl Iterator<Item = (u64, &Record)> {
        self.segments.iter().filter_map(|s| match &s.content {
            SegmentContent::Present(r) => Some((s.start_sample, r.as_ref())),
            _ => None,
        })
    }

    /// Every stretch without data: `~` gaps and absent segments.
    pub fn gaps(&self) -> Vec<Gap> {
        self.segments
            .iter()
            .filter_map(|s| {
                let cause = match &s.content {
                    SegmentContent::Gap => GapCause::GapSegment,
                    SegmentContent::Absent { missing } => GapCause::AbsentSegment {
                        name: s.name.clone(),
                        missing: missing.clone(),
                    },
                    SegmentContent::Present(_) => return None,
                };
                Some(Gap {
                    start_sample: s.start_sample,
                    samples: s.samples,
                    cause,
                })
            })
            .collect()
    }
}
