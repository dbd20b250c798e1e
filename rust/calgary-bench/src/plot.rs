//! A tiny line-chart renderer to PNG (no matplotlib here): RGB canvas,
//! axes, grid, polylines with point markers, legend. Text uses a TrueType
//! font through `ab_glyph` when one is found (DejaVu on Debian, or
//! `CALGARY_FONT=path.ttf`); without a font the chart is drawn unlabelled.

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use std::path::Path;

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

const W: usize = 1000;
const H: usize = 640;
const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

struct Canvas {
    px: Vec<u8>,
    font: Option<FontVec>,
}

impl Canvas {
    fn new() -> Self {
        Canvas {
            px: vec![255; W * H * 3],
            font: load_font(),
        }
    }
    fn blend(&mut self, x: i64, y: i64, c: [u8; 3], a: f32) {
        if x < 0 || y < 0 || x >= W as i64 || y >= H as i64 {
            return;
        }
        let i = (y as usize * W + x as usize) * 3;
        for k in 0..3 {
            let old = self.px[i + k] as f32;
            self.px[i + k] = (old + (c[k] as f32 - old) * a.clamp(0.0, 1.0)) as u8;
        }
    }
    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0.min(y1)..=y0.max(y1) {
            for x in x0.min(x1)..=x0.max(x1) {
                self.blend(x, y, c, 1.0);
            }
        }
    }
    fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: [u8; 3], width: f64) {
        let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt().max(1.0);
        let steps = (len * 2.0) as usize + 1;
        let r = width / 2.0;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            let ri = r.ceil() as i64;
            for dy in -ri..=ri {
                for dx in -ri..=ri {
                    let d = ((dx * dx + dy * dy) as f64).sqrt();
                    if d <= r + 0.5 {
                        let a = if d <= r - 0.5 {
                            1.0
                        } else {
                            (r + 0.5 - d) as f32
                        };
                        self.blend(x.round() as i64 + dx, y.round() as i64 + dy, c, a);
                    }
                }
            }
        }
    }
    /// Draws text; `anchor`: 0 = left, 1 = centre, 2 = right. Returns width.
    fn text(&mut self, s: &str, x: f64, y: f64, size: f32, anchor: u8, c: [u8; 3]) -> f64 {
        let Some(font) = self.font.take() else {
            return 0.0;
        };
        let scale = PxScale::from(size);
        let sf = font.as_scaled(scale);
        let width: f32 = s.chars().map(|ch| sf.h_advance(sf.glyph_id(ch))).sum();
        let mut pen = match anchor {
            1 => x as f32 - width / 2.0,
            2 => x as f32 - width,
            _ => x as f32,
        };
        let base = y as f32 + sf.ascent() / 2.0;
        for ch in s.chars() {
            let gid = sf.glyph_id(ch);
            let g = gid.with_scale_and_position(scale, ab_glyph::point(pen, base));
            pen += sf.h_advance(gid);
            if let Some(o) = font.outline_glyph(g) {
                let b = o.px_bounds();
                let mut pts = Vec::new();
                o.draw(|gx, gy, cov| {
                    pts.push((b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64, cov))
                });
                for (px, py, cov) in pts {
                    self.blend(px, py, c, cov);
                }
            }
        }
        self.font = Some(font);
        width as f64
    }
    fn save(&self, path: &Path) -> std::io::Result<()> {
        let f = std::fs::File::create(path)?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), W as u32, H as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(std::io::Error::other)?;
        w.write_image_data(&self.px)
            .map_err(std::io::Error::other)?;
        Ok(())
    }
}

fn load_font() -> Option<FontVec> {
    let mut cands: Vec<String> = Vec::new();
    if let Ok(p) = std::env::var("CALGARY_FONT") {
        cands.push(p);
    }
    for p in [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
    ] {
        cands.push(p.to_string());
    }
    cands.into_iter().find_map(|p| {
        std::fs::read(p)
            .ok()
            .and_then(|b| FontVec::try_from_vec(b).ok())
    })
}

fn fmt_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-2) {
        format!("{v:.0e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').to_string()
    }
}

fn fmt_x(v: f64) -> String {
    let i = v.round() as u64;
    if i >= 1024 && i % 1024 == 0 {
        format!("{}K", i / 1024)
    } else {
        fmt_tick(v)
    }
}

pub fn render(chart: &Chart, path: &Path) -> std::io::Result<()> {
    let mut c = Canvas::new();
    let (l, r, t, b) = (90.0, W as f64 - 230.0, 50.0, H as f64 - 70.0);
    let fx = |x: f64| if chart.log2_x { x.max(1e-9).log2() } else { x };
    let pts = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut xmin, mut xmax, mut ymax) = (f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts {
        xmin = xmin.min(fx(x));
        xmax = xmax.max(fx(x));
        ymax = ymax.max(y);
    }
    for (v, _) in &chart.hlines {
        ymax = ymax.max(*v);
    }
    if !xmin.is_finite() {
        xmin = 0.0;
        xmax = 1.0;
    }
    if xmax <= xmin {
        xmax = xmin + 1.0;
    }
    let (y0, y1) = chart.y_range.unwrap_or((
        0.0,
        if ymax.is_finite() && ymax > 0.0 {
            ymax * 1.1
        } else {
            1.0
        },
    ));
    let px = |x: f64| l + (fx(x) - xmin) / (xmax - xmin) * (r - l);
    let py = |y: f64| b - (y - y0) / (y1 - y0) * (b - t);
    let grey = [220, 220, 220];
    let black = [0, 0, 0];
    // y grid + ticks
    for i in 0..=5 {
        let v = y0 + (y1 - y0) * i as f64 / 5.0;
        let y = py(v);
        c.line(l, y, r, y, grey, 1.0);
        c.text(
            &fmt_tick((v * 1000.0).round() / 1000.0),
            l - 8.0,
            y,
            15.0,
            2,
            black,
        );
    }
    // x ticks at data x values (union)
    let mut xs: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    xs.dedup();
    let step = (xs.len() / 12).max(1);
    for x in xs.iter().step_by(step) {
        let xp = px(*x);
        c.line(xp, t, xp, b, grey, 1.0);
        c.text(&fmt_x(*x), xp, b + 16.0, 14.0, 1, black);
    }
    for (v, label) in &chart.hlines {
        let y = py(*v);
        let mut xx = l;
        while xx < r {
            c.line(xx, y, (xx + 8.0).min(r), y, [120, 120, 120], 1.5);
            xx += 14.0;
        }
        c.text(label, r - 4.0, y - 10.0, 13.0, 2, [90, 90, 90]);
    }
    c.line(l, b, r, b, black, 1.5);
    c.line(l, t, l, b, black, 1.5);
    for (i, s) in chart.series.iter().enumerate() {
        let col = PALETTE[i % PALETTE.len()];
        let mut prev: Option<(f64, f64)> = None;
        for &(x, y) in &s.points {
            if !(x.is_finite() && y.is_finite()) {
                prev = None;
                continue;
            }
            let (xp, yp) = (px(x), py(y.clamp(y0, y1)));
            if let Some((a, bb)) = prev {
                c.line(a, bb, xp, yp, col, 2.2);
            }
            c.rect(
                xp as i64 - 3,
                yp as i64 - 3,
                xp as i64 + 3,
                yp as i64 + 3,
                col,
            );
            prev = Some((xp, yp));
        }
        let ly = t + 10.0 + 22.0 * i as f64;
        c.line(r + 15.0, ly, r + 40.0, ly, col, 3.0);
        c.text(&s.name, r + 46.0, ly, 14.0, 0, black);
    }
    c.text(&chart.title, (l + r) / 2.0, 22.0, 19.0, 1, black);
    c.text(&chart.xlabel, (l + r) / 2.0, b + 44.0, 16.0, 1, black);
    c.text(&chart.ylabel, 12.0, t - 22.0, 15.0, 0, black);
    c.save(path)
}
