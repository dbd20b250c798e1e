//! Line charts to PNG with `plotters` (bitmap backend): axes, grid at the
//! data's x values, one polyline with markers per series, dashed reference
//! lines, and the legend in a column to the right of the plot.
//!
//! Text is drawn through plotters' `ab_glyph` font support from a TrueType
//! file read at run time: `CALGARY_FONT`, else DejaVu Sans (Debian's
//! fonts-dejavu-core, which the setup installs).

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::OnceLock;

#[derive(Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub xlabel: String,
    pub ylabel: String,
    pub log2_x: bool,
    /// Fixed y range, or None for 0..max*1.1.
    pub y_range: Option<(f64, f64)>,
    /// Horizontal reference lines (value, label).
    pub hlines: Vec<(f64, String)>,
    pub series: Vec<Series>,
}

const W: u32 = 1000;
const H: u32 = 640;
const LEGEND_W: u32 = 230;
const FONT: &str = "sans-serif";
const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Registers the font with plotters once; the error says what to install.
fn font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let mut tried = Vec::new();
        let env = std::env::var("CALGARY_FONT").ok();
        for p in env.iter().map(String::as_str).chain(FONT_PATHS) {
            tried.push(p.to_string());
            let Ok(bytes) = std::fs::read(p) else {
                continue;
            };
            // plotters keeps registered fonts for the program's lifetime.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
        Err(format!(
            "no usable TrueType font (tried {}); install fonts-dejavu-core or set CALGARY_FONT",
            tried.join(", ")
        ))
    })
    .clone()
}

fn fmt_tick(v: f64) -> String {
    let v = (v * 1000.0).round() / 1000.0;
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-2) {
        format!("{v:.0e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// Sizes as the benchmark names them: 64, 1K, 64K, 512K.
fn fmt_x(v: f64) -> String {
    let i = v.round() as u64;
    if v >= 1024.0 && i & 1023 == 0 && (v - i as f64).abs() < 1e-6 {
        format!("{}K", i / 1024)
    } else {
        fmt_tick(v)
    }
}

/// The x axis: linear or base-2 logarithmic, with ticks at given values
/// (the data's own x values) rather than "nice" numbers.
struct XAxis {
    lo: f64,
    hi: f64,
    log2: bool,
    ticks: Vec<f64>,
}

impl XAxis {
    fn f(&self, v: f64) -> f64 {
        if self.log2 {
            v.log2()
        } else {
            v
        }
    }
}

impl Ranged for XAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.f(self.lo), self.f(self.hi));
        let t = (self.f(*v) - a) / (b - a);
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            return Vec::new();
        }
        self.ticks.clone()
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for XAxis {
    fn format(v: &f64) -> String {
        fmt_x(*v)
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

pub fn render(chart: &Chart, path: &Path) -> Result<(), String> {
    font()?;
    let log2 = chart.log2_x;
    let usable = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log2 || x > 0.0);
    // x: the data's own x values are the ticks (at most 12 labelled).
    let mut xs: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter(|p| usable(p)).map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let (mut lo, mut hi) = match (xs.first(), xs.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (1.0, 2.0),
    };
    // a margin of 3% of the axis on both sides, in the axis' own scale
    if log2 {
        let m = ((hi / lo).log2() * 0.03).max(0.05);
        (lo, hi) = (lo * (-m).exp2(), hi * m.exp2());
    } else {
        let m = ((hi - lo) * 0.03).max(0.5);
        (lo, hi) = (lo - m, hi + m);
    }
    let step = xs.len().div_ceil(12).max(1);
    let x_axis = XAxis {
        lo,
        hi,
        log2,
        ticks: xs.iter().copied().step_by(step).collect(),
    };
    let ymax = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter(|p| usable(p)).map(|p| p.1))
        .chain(chart.hlines.iter().map(|h| h.0))
        .fold(f64::NEG_INFINITY, f64::max);
    let (y0, y1) = chart.y_range.unwrap_or((
        0.0,
        if ymax.is_finite() && ymax > 0.0 {
            ymax * 1.1
        } else {
            1.0
        },
    ));
    if !(y0.is_finite() && y1.is_finite()) || y1 <= y0 {
        return Err(format!("empty y range {y0}..{y1}"));
    }

    let root = BitMapBackend::new(path, (W, H)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (plot_area, legend_area) = root.split_horizontally(W - LEGEND_W);
    let mut cc = ChartBuilder::on(&plot_area)
        .caption(&chart.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(55)
        .y_label_area_size(75)
        .build_cartesian_2d(x_axis, y0..y1)
        .map_err(err)?;
    let yfmt = |v: &f64| fmt_tick(*v);
    cc.configure_mesh()
        .x_desc(&chart.xlabel)
        .y_desc(&chart.ylabel)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .y_label_formatter(&yfmt)
        .y_labels(8)
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(WHITE)
        .draw()
        .map_err(err)?;

    for (v, label) in &chart.hlines {
        let grey = RGBColor(110, 110, 110);
        cc.draw_series(DashedLineSeries::new(
            [(lo, *v), (hi, *v)],
            8,
            6,
            grey.stroke_width(2),
        ))
        .map_err(err)?;
        cc.draw_series(std::iter::once(Text::new(
            label.clone(),
            (hi, *v),
            (FONT, 13)
                .into_font()
                .color(&grey)
                .pos(Pos::new(HPos::Right, VPos::Bottom)),
        )))
        .map_err(err)?;
    }

    let legend_style = (FONT, 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, s) in chart.series.iter().enumerate() {
        let col = PALETTE[i % PALETTE.len()];
        // a non-finite value breaks the line
        for seg in s.points.split(|p| !usable(p)) {
            let pts: Vec<(f64, f64)> = seg.iter().map(|&(x, y)| (x, y.clamp(y0, y1))).collect();
            cc.draw_series(LineSeries::new(pts.iter().copied(), col.stroke_width(2)))
                .map_err(err)?;
            cc.draw_series(pts.iter().map(|&p| Circle::new(p, 4, col.filled())))
                .map_err(err)?;
        }
        let y = 60 + 24 * i as i32;
        legend_area
            .draw(&PathElement::new(
                vec![(10, y), (38, y)],
                col.stroke_width(3),
            ))
            .map_err(err)?;
        legend_area
            .draw(&Circle::new((24, y), 4, col.filled()))
            .map_err(err)?;
        legend_area
            .draw(&Text::new(s.name.clone(), (46, y), legend_style.clone()))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels() {
        assert_eq!(fmt_x(64.0), "64");
        assert_eq!(fmt_x(65536.0), "64K");
        assert_eq!(fmt_x(1000.0), "1000");
        assert_eq!(fmt_tick(0.5), "0.5");
        assert_eq!(fmt_tick(1.2), "1.2");
        assert_eq!(fmt_tick(250000.0), "2e5");
    }

    #[test]
    fn renders_a_png() {
        // The setup installs fonts-dejavu-core; without a font this fails
        // with the message that says so.
        let out = std::env::temp_dir().join(format!("calgary-plot-{}.png", std::process::id()));
        let chart = Chart {
            title: "t".into(),
            xlabel: "x".into(),
            ylabel: "y".into(),
            log2_x: true,
            y_range: Some((0.0, 1.2)),
            hlines: vec![(1.0, "no IOMMU".into())],
            series: vec![Series {
                name: "a".into(),
                points: vec![(64.0, 0.9), (1024.0, f64::NAN), (65536.0, 1.0)],
            }],
        };
        render(&chart, &out).expect("render");
        let b = std::fs::read(&out).expect("png written");
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height
        assert_eq!(&b[16..24], &[0, 0, 3, 0xe8, 0, 0, 2, 0x80]);
        std::fs::remove_file(out).ok();
    }
}
